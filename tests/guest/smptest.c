/*
 * tabvm's SMP checks inside the guest (tests/smp-stress.test.ts runs them from a test initramfs that
 * scripts/build-test-initramfs.sh builds). Static, for riscv64 Linux:
 *
 *   smptest stress THREADS ITERATIONS
 *     THREADS threads each add 1 ITERATIONS times to three shared counters: by amoadd.d
 *     (__atomic_fetch_add), by an lr.d/sc.d loop, and by a plain load/add/store under a pthread mutex.
 *     Prints "stress expected=E amoadd=A lrsc=L mutex=M racy=R cpus=C": E = THREADS * ITERATIONS, C the
 *     number of distinct CPUs the threads were seen on (sched_getcpu), and R a fourth counter that the
 *     threads increment with a plain ld; addi; sd and no lock (inline assembly): it loses
 *     increments whenever the threads really interleave, which shows that the other three are contended.
 *
 *   smptest litmus ITERATIONS
 *     Two threads, pinned to CPUs 0 and 1, run each litmus test ITERATIONS times (both start each
 *     iteration together, from a barrier) and print one line per test:
 *     "litmus NAME n=N 00=a 01=b 10=c 11=d", the counts of each outcome (r1, r2).
 *
 * The litmus bodies are inline assembly, so that the compiler neither reorders nor merges their
 * accesses: the instructions are exactly the ones the test names.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- stress ------------------------------------------------------------------------------------- */

static long amo_counter;
static long lrsc_counter;
static long mutex_counter;
static long racy_counter;
static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static long iterations;
static unsigned long cpus_seen; /* bit c: some thread ran on CPU c (updated with amoor) */

static void lrsc_add(long *p, long v) {
  long old, fail;
  __asm__ volatile("1: lr.d %0, (%2)\n"
                   "   add %0, %0, %3\n"
                   "   sc.d %1, %0, (%2)\n"
                   "   bnez %1, 1b\n"
                   : "=&r"(old), "=&r"(fail)
                   : "r"(p), "r"(v)
                   : "memory");
}

/* Not atomic on purpose: another thread's store between the ld and the sd is lost. */
static void racy_add(long *p) {
  long v;
  __asm__ volatile("ld %0, 0(%1)\n"
                   "addi %0, %0, 1\n"
                   "sd %0, 0(%1)\n"
                   : "=&r"(v)
                   : "r"(p)
                   : "memory");
}

static void note_cpu(void) {
  int cpu = sched_getcpu();
  if (cpu >= 0 && cpu < 64) __atomic_fetch_or(&cpus_seen, 1UL << cpu, __ATOMIC_RELAXED);
}

static void *stress_thread(void *arg) {
  (void)arg;
  for (long i = 0; i < iterations; i++) {
    __atomic_fetch_add(&amo_counter, 1, __ATOMIC_RELAXED);
    lrsc_add(&lrsc_counter, 1);
    pthread_mutex_lock(&counter_lock);
    mutex_counter = mutex_counter + 1;
    pthread_mutex_unlock(&counter_lock);
    racy_add(&racy_counter);
    if ((i & 4095) == 0) note_cpu();
  }
  note_cpu();
  return NULL;
}

static int stress(long threads, long n) {
  pthread_t tid[64];
  iterations = n;
  for (long t = 0; t < threads; t++) {
    if (pthread_create(&tid[t], NULL, stress_thread, NULL) != 0) {
      perror("pthread_create");
      return 1;
    }
  }
  for (long t = 0; t < threads; t++) pthread_join(tid[t], NULL);
  printf("stress expected=%ld amoadd=%ld lrsc=%ld mutex=%ld racy=%ld cpus=%d\n", threads * n, amo_counter,
         lrsc_counter, mutex_counter, racy_counter, __builtin_popcountl(cpus_seen));
  return 0;
}

/* --- litmus ------------------------------------------------------------------------------------- */

/* Each shared location on a cache line of its own. */
struct line {
  volatile long v;
  char pad[56];
};
static struct line x, y;
static long r1, r2;

/* A sense-reversing barrier for the two threads. */
static int barrier_count;
static int barrier_sense;

static void barrier(int *local_sense) {
  *local_sense = !*local_sense;
  if (__atomic_add_fetch(&barrier_count, 1, __ATOMIC_ACQ_REL) == 2) {
    __atomic_store_n(&barrier_count, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&barrier_sense, *local_sense, __ATOMIC_RELEASE);
  } else {
    while (__atomic_load_n(&barrier_sense, __ATOMIC_ACQUIRE) != *local_sense) {
    }
  }
}

enum test { MP, MP_FENCES, SB, SB_FENCES, LB, LB_FENCES, TESTS };
static const char *const test_names[TESTS] = {"MP", "MP+fences", "SB", "SB+fences", "LB", "LB+fences"};

/* Thread 0's and thread 1's part of each test; x and y start at 0, r1 and r2 are the loads' values. */
static void part0(enum test t) {
  long one = 1, r;
  switch (t) {
  case MP: /* sd x; sd y */
    __asm__ volatile("sd %0, 0(%1)\n sd %0, 0(%2)" ::"r"(one), "r"(&x.v), "r"(&y.v) : "memory");
    break;
  case MP_FENCES: /* sd x; fence w,w; sd y */
    __asm__ volatile("sd %0, 0(%1)\n fence w,w\n sd %0, 0(%2)" ::"r"(one), "r"(&x.v), "r"(&y.v) : "memory");
    break;
  case SB: /* sd x; ld y */
    __asm__ volatile("sd %1, 0(%2)\n ld %0, 0(%3)" : "=&r"(r) : "r"(one), "r"(&x.v), "r"(&y.v) : "memory");
    r1 = r;
    break;
  case SB_FENCES: /* sd x; fence rw,rw; ld y */
    __asm__ volatile("sd %1, 0(%2)\n fence rw,rw\n ld %0, 0(%3)" : "=&r"(r) : "r"(one), "r"(&x.v), "r"(&y.v) : "memory");
    r1 = r;
    break;
  case LB: /* ld x; sd y */
    __asm__ volatile("ld %0, 0(%2)\n sd %1, 0(%3)" : "=&r"(r) : "r"(one), "r"(&x.v), "r"(&y.v) : "memory");
    r1 = r;
    break;
  case LB_FENCES: /* ld x; fence r,w; sd y */
    __asm__ volatile("ld %0, 0(%2)\n fence r,w\n sd %1, 0(%3)" : "=&r"(r) : "r"(one), "r"(&x.v), "r"(&y.v) : "memory");
    r1 = r;
    break;
  default:
    break;
  }
}

static void part1(enum test t) {
  long one = 1, a, b;
  switch (t) {
  case MP: /* ld y; ld x */
    __asm__ volatile("ld %0, 0(%2)\n ld %1, 0(%3)" : "=&r"(a), "=&r"(b) : "r"(&y.v), "r"(&x.v) : "memory");
    r1 = a;
    r2 = b;
    break;
  case MP_FENCES: /* ld y; fence r,r; ld x */
    __asm__ volatile("ld %0, 0(%2)\n fence r,r\n ld %1, 0(%3)" : "=&r"(a), "=&r"(b) : "r"(&y.v), "r"(&x.v) : "memory");
    r1 = a;
    r2 = b;
    break;
  case SB: /* sd y; ld x */
    __asm__ volatile("sd %1, 0(%2)\n ld %0, 0(%3)" : "=&r"(b) : "r"(one), "r"(&y.v), "r"(&x.v) : "memory");
    r2 = b;
    break;
  case SB_FENCES: /* sd y; fence rw,rw; ld x */
    __asm__ volatile("sd %1, 0(%2)\n fence rw,rw\n ld %0, 0(%3)" : "=&r"(b) : "r"(one), "r"(&y.v), "r"(&x.v) : "memory");
    r2 = b;
    break;
  case LB: /* ld y; sd x */
    __asm__ volatile("ld %0, 0(%2)\n sd %1, 0(%3)" : "=&r"(b) : "r"(one), "r"(&y.v), "r"(&x.v) : "memory");
    r2 = b;
    break;
  case LB_FENCES: /* ld y; fence r,w; sd x */
    __asm__ volatile("ld %0, 0(%2)\n fence r,w\n sd %1, 0(%3)" : "=&r"(b) : "r"(one), "r"(&y.v), "r"(&x.v) : "memory");
    r2 = b;
    break;
  default:
    break;
  }
}

static long litmus_iterations;
static long outcomes[TESTS][4];

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) fprintf(stderr, "litmus: cannot pin to CPU %d\n", cpu);
}

static void *litmus_thread(void *arg) {
  int me = (int)(long)arg, sense = 0;
  pin(me);
  for (int t = 0; t < TESTS; t++) {
    for (long i = 0; i < litmus_iterations; i++) {
      if (me == 0) {
        x.v = 0;
        y.v = 0;
        r1 = r2 = -1;
      }
      barrier(&sense);
      if (me == 0) part0((enum test)t);
      else part1((enum test)t);
      barrier(&sense);
      if (me == 0) outcomes[t][(r1 & 1) << 1 | (r2 & 1)]++;
    }
  }
  return NULL;
}

static int litmus(long n) {
  pthread_t other;
  litmus_iterations = n;
  if (pthread_create(&other, NULL, litmus_thread, (void *)1L) != 0) {
    perror("pthread_create");
    return 1;
  }
  litmus_thread((void *)0L);
  pthread_join(other, NULL);
  for (int t = 0; t < TESTS; t++) {
    printf("litmus %s n=%ld 00=%ld 01=%ld 10=%ld 11=%ld\n", test_names[t], n, outcomes[t][0], outcomes[t][1],
           outcomes[t][2], outcomes[t][3]);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "stress") == 0) {
    long threads = atol(argv[2]), n = atol(argv[3]);
    if (threads < 1 || threads > 64 || n < 1) {
      fprintf(stderr, "smptest stress: 1 to 64 threads, at least 1 iteration\n");
      return 2;
    }
    return stress(threads, n);
  }
  if (argc == 3 && strcmp(argv[1], "litmus") == 0) {
    long n = atol(argv[2]);
    if (n < 1) {
      fprintf(stderr, "smptest litmus: at least 1 iteration\n");
      return 2;
    }
    return litmus(n);
  }
  fprintf(stderr, "usage: smptest stress THREADS ITERATIONS | smptest litmus ITERATIONS\n");
  return 2;
}
