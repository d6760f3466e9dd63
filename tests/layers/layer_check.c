/*
 * layer_check: the whole body of one folder library (meson.build, layer_check_<folder>) is
 * linked into this empty program together with only the dependencies that folder declares,
 * so a call into a folder it does not depend on is an undefined reference at build time.
 */
int main(void)
{
	return 0;
}
