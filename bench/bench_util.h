/*
 * bench_util: what the benchmarks under bench/ share: clocks, CPU time of a process, free
 * loopback ports, percentiles and medians, removing a temp tree. Small on purpose; each
 * bench keeps its own daemon settings and output, which differ.
 */
#ifndef IPKVM_BENCH_UTIL_H
#define IPKVM_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

int64_t bench_mono_us(void);
double bench_mono_ms(void);
/* utime + stime of this process, seconds. */
double bench_self_cpu_s(void);
/* utime + stime of process pid (all its threads, ended ones included), seconds, into *out.
 * 0, or -errno when /proc/pid/stat cannot be read (the process died). */
int bench_proc_cpu_s(pid_t pid, double *out);
/* n distinct free loopback TCP ports (all sockets held until every port is known).
 * 0 or -errno. */
int bench_free_ports(int *ports, size_t n);
/* qsort comparators. */
int bench_cmp_i64(const void *a, const void *b);
int bench_cmp_double(const void *a, const void *b);
/* The median of v[0..n) (sorts v); 0 when n is 0. */
double bench_median(double *v, size_t n);
/* The p-th percentile (0..100, nearest rank) of sorted µs values, in ms; 0 when n is 0. */
double bench_pct_ms(const int64_t *sorted_us, size_t n, double p);
/* Removes dir and everything below it (symbolic links themselves, never what they name). */
void bench_rm_tree(const char *dir);

#endif
