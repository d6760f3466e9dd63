/*
 * cert: the self-signed TLS certificate made on first start, so the device speaks HTTPS
 * from the first second without any setup.
 */
#ifndef IPKVM_TLS_CERT_H
#define IPKVM_TLS_CERT_H

/* Makes <dir>/cert.pem and <dir>/key.pem (0600) if either is missing: an ECDSA P-256 key
 * and a self-signed certificate valid for 10 years, with SANs for localhost, the hostname,
 * 127.0.0.1, ::1, listen (when it is a specific address) and, when listening on every
 * address, the addresses of the machine's interfaces. Returns 0 (existing files are left
 * alone) or -errno. */
int ipkvm_cert_ensure(const char *dir, const char *listen);

#endif
