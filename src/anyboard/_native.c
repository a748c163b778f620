/* anyboard's compiled kernels (optional: each caller has a NumPy path giving identical results).
 *
 * Layout: exact single-pass binning of float32/float64 values into TensorFlow's histogram
 * buckets (used by anyboard.summary.histogram).
 *
 * Python builds a Layout from the bucket edges, rounded up to the value type ("compare
 * values"): a value v belongs to slot  #{k : v >= cmp[k]}  where slot 0 is "below the first
 * edge", slots 1..nedge-1 are the buckets and slot nedge is "above the last edge" (the caller
 * makes cmp[last] the first value strictly above the last edge, so the last bucket is closed).
 * Slot nedge+1 counts NaN and +-Inf.
 *
 * The top `cellbits` bits of a value's bit pattern (sign, exponent, the leading mantissa bits)
 * name a cell: an interval of values narrower than the gap between two edges, so a cell holds
 * at most one compare value. The layout's table maps a cell to its slot when it holds none
 * (almost every cell) or to ~k when it holds cmp[k]: then the slot is k + (v >= cmp[k]).
 * Counting is one table load and one increment per value, spread over four count lanes so
 * repeated slots do not serialize on one counter. The GIL is released while counting.
 *
 * frame_rows: tfrecord framing of many equal-length payloads (anyboard.io.records), each CRC
 * from the crc32c package's function, passed in; scalar_columns: the queued scalars of a batch
 * as columns (anyboard._methods.core). Both replace per-record Python loops on the writer thread.
 *
 * float_to_uint8: float pixels to uint8 by the image range rule of anyboard.imaging
 * (x * 255 in the input's type, NaN and values below 0 to 0, above 255 to 255, rounded half
 * to even), one fused pass instead of NumPy's five (used by anyboard._methods.images).
 *
 * take_run: a run of queued items of one code, taken from the writer thread's deque
 * (anyboard.io.stream).
 *
 * The module uses the public C API only (no CPython internals, no object layouts), is
 * initialized in phases (PEP 489) and needs no GIL: every function works on its arguments
 * (held by the caller for the call) and on buffers it holds views of while the GIL is released;
 * nothing is global but the immutable Layout type of each module object and the CPU's AVX2 support
 * (detected when the module is loaded: the same value for every load); a list read item by
 * item is locked against other threads (a critical section) on free-threaded builds.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <float.h>
#include <limits.h>

#define LANES 4
#define MAXLANES 8 /* the AVX-512 kernel's count lanes (NL512): lane buffers hold this many */
#define BLOCK ((Py_ssize_t)1 << 30) /* default values per lane flush: keeps uint32 lane counts exact */

/* The AVX-512 kernel's slot formula for the TensorFlow layout (see "AVX-512 kernel" below). */
typedef struct {
    int np;     /* positive edges: ncmp = 2 np + 1, cmp[np] = 0 */
    float c[6]; /* t = T + 1 = c0 + c1 m + ... + c5 m^5 + C1 e  (m in [1, 2), e the exponent) */
    float C1;   /* 1 / log2(1.1) */
} LogP;

typedef struct {
    PyObject_HEAD
    int is32;          /* float32 (else float64) values */
    int shift;         /* bits dropped to form the cell index */
    Py_ssize_t ncmp;   /* number of compare values (edges) */
    Py_ssize_t nslot;  /* ncmp + 2: below .. above, then non-finite */
    Py_ssize_t block;  /* values counted into the uint32 lanes between flushes to the totals */
    int16_t *table;    /* 1 << cellbits entries */
    void *cmp;         /* ncmp compare values, float or double */
    int log_ok;        /* the compare values are the TensorFlow edges: logp holds their formula */
    LogP logp;
} Layout;

/* Slot of each cell: the count of compare values <= every value of the cell, or ~k when the
 * cell holds cmp[k]. Cells are visited in increasing value order (positive cells by increasing
 * bits, negative cells by decreasing bits), so two pointers into cmp suffice. */
#define BUILD(NAME, FT, UT)                                                                   \
static int NAME(Layout *self, int cellbits) {                                                 \
    const FT *cmp = (const FT *)self->cmp;                                                    \
    Py_ssize_t ncell = (Py_ssize_t)1 << cellbits, half = ncell / 2, k_lo = 0, k_hi = 0;       \
    UT low_mask = ((UT)1 << self->shift) - 1;                                                 \
    for (Py_ssize_t step = 0; step < ncell; step++) {                                         \
        /* negative cells from the most negative (largest bits) up, then positive cells */    \
        Py_ssize_t c = step < half ? ncell - 1 - step : step - half;                          \
        UT first_bits = (UT)c << self->shift, last_bits = first_bits | low_mask;              \
        FT a, b;                                                                              \
        memcpy(&a, &first_bits, sizeof a);                                                    \
        memcpy(&b, &last_bits, sizeof b);                                                     \
        FT lo = c >= half ? b : a, hi = c >= half ? a : b;                                    \
        if (!isfinite(lo) || !isfinite(hi)) {                                                 \
            self->table[c] = (int16_t)(self->ncmp + 1);                                       \
            continue;                                                                         \
        }                                                                                     \
        while (k_lo < self->ncmp && cmp[k_lo] <= lo) k_lo++;                                  \
        if (k_hi < k_lo) k_hi = k_lo;                                                         \
        while (k_hi < self->ncmp && cmp[k_hi] <= hi) k_hi++;                                  \
        if (k_hi == k_lo) self->table[c] = (int16_t)k_lo;                                     \
        else if (k_hi == k_lo + 1) self->table[c] = (int16_t)~k_lo;                           \
        else return -1; /* two edges in one cell: cellbits too small for these edges */       \
    }                                                                                         \
    return 0;                                                                                 \
}

BUILD(build_f32, float, uint32_t)
BUILD(build_f64, double, uint64_t)

#define SLOT(UT, v, out)                                                                      \
    do {                                                                                      \
        UT u_;                                                                                \
        memcpy(&u_, &(v), sizeof u_);                                                         \
        int s_ = table[u_ >> shift];                                                          \
        if (s_ < 0) {                                                                         \
            s_ = ~s_;                                                                         \
            s_ += (v) >= cmp[s_];                                                             \
        }                                                                                     \
        (out) = s_;                                                                           \
    } while (0)

/* Count x[i..end) into the per-lane slot counters (LANES interleaved lanes, then the tail in
 * lane 0); `table`, `cmp` and `shift` come from the enclosing function. */
#define COUNT_LANES(FT, UT, x, i, end, lanes, nslot)                                          \
    do {                                                                                      \
        for (; (i) + LANES <= (end); (i) += LANES) {                                          \
            for (int l = 0; l < LANES; l++) {                                                 \
                FT v = (x)[(i) + l];                                                          \
                int s;                                                                        \
                SLOT(UT, v, s);                                                               \
                (lanes)[l * (nslot) + s]++;                                                   \
            }                                                                                 \
        }                                                                                     \
        for (; (i) < (end); (i)++) {                                                          \
            FT v = (x)[i];                                                                    \
            int s;                                                                            \
            SLOT(UT, v, s);                                                                   \
            (lanes)[s]++;                                                                     \
        }                                                                                     \
    } while (0)

/* Add the lanes' counters of one block into counts. */
#define FOLD_LANES(lanes, nslot, counts)                                                      \
    do {                                                                                      \
        for (Py_ssize_t b = 0; b < (nslot); b++) {                                            \
            int64_t t = 0;                                                                    \
            for (int l = 0; l < LANES; l++) t += (lanes)[l * (nslot) + b];                    \
            (counts)[b] += t;                                                                 \
        }                                                                                     \
    } while (0)

#define COUNT(NAME, FT, UT)                                                                   \
static void NAME(const Layout *self, const FT *x, Py_ssize_t n, int64_t *counts,               \
                 uint32_t *lanes) {                                                          \
    const int16_t *table = self->table;                                                       \
    const FT *cmp = (const FT *)self->cmp;                                                    \
    const int shift = self->shift;                                                            \
    const Py_ssize_t nslot = self->nslot, block = self->block;                                \
    for (Py_ssize_t start = 0; start < n; start += block) {                                   \
        Py_ssize_t end = n - start < block ? n : start + block, i = start;                    \
        memset(lanes, 0, sizeof(uint32_t) * LANES * nslot);                                   \
        COUNT_LANES(FT, UT, x, i, end, lanes, nslot);                                         \
        FOLD_LANES(lanes, nslot, counts);                                                     \
    }                                                                                         \
}

COUNT(count_f32, float, uint32_t)
COUNT(count_f64, double, uint64_t)

/* count_stats: the slot counts and, in the same pass over memory, the statistics of the finite
 * values (min, max, sum and sum of squares, in double) that HistogramProto carries. The values
 * go in blocks of SBLOCK (1-2 KiB: the counting's lanes take most of L1). Each block's partial
 * sums are added into its group's (SGROUP blocks), each group's into the running totals, so the
 * rounding error grows as (SBLOCK / lanes + SGROUP + n / (SGROUP * SBLOCK)) additions, close to
 * NumPy's pairwise sum. The statistics take no mask: NaN never wins a min/max comparison, and an
 * Inf (or a NaN in the sums) is seen by the counting, after which count_stats redoes the
 * statistics masked (finite_stats: a rare, slower path).
 *
 * Three kernels share these blocks and groups (COUNT_STATS, and GROUPS for the two-thread pass)
 * and differ in what they do with a block; kernel_of picks one per layout. The AVX-512 one
 * (TensorFlow's edges only) is described with its code below. With AVX2 and FMA (checked when the module is loaded, on x86-64 GCC/Clang; not when
 * built with -DANYBOARD_PORTABLE_STATS, to test the other) one loop body takes 16 values: their
 * statistics in 256-bit registers and their counting (BLOCK_AVX2). The vector arithmetic then
 * runs beside the counting's table loads and increments (other execution units): a cold
 * 1e6-value float32 pass took 0.61-0.62 ms against 0.72-0.77 ms for counting a block, then
 * taking its statistics with the same vector code (float64: 0.77-0.79 against 0.87-0.89 ms),
 * with the same results to the bit. Elsewhere each block is counted, then its statistics are taken by a
 * portable loop while it is still in L1 (BLOCK_PORTABLE). Both give the same counts, min and
 * max, and sums equal up to the order of the additions (the AVX2 squares also round once, with
 * FMA). */
#define SBLOCK 256
#define SGROUP 64
#define SLANES 4

static void finite_stats_f32(const float *x, Py_ssize_t n, double *acc);
static void finite_stats_f64(const double *x, Py_ssize_t n, double *acc);

#define STATS_PORTABLE(NAME, FT)                                                              \
static void NAME(const FT *x, Py_ssize_t n, double *acc) {                                    \
    FT lo = (FT)INFINITY, hi = (FT)-INFINITY;                                                 \
    double s[SLANES] = {0.0}, q[SLANES] = {0.0};                                              \
    Py_ssize_t i = 0;                                                                         \
    for (; i + SLANES <= n; i += SLANES) {                                                    \
        for (int l = 0; l < SLANES; l++) {                                                    \
            FT v = x[i + l];                                                                  \
            double d = (double)v;                                                             \
            lo = v < lo ? v : lo;                                                             \
            hi = v > hi ? v : hi;                                                             \
            s[l] += d;                                                                        \
            q[l] += d * d;                                                                    \
        }                                                                                     \
    }                                                                                         \
    for (; i < n; i++) {                                                                      \
        FT v = x[i];                                                                          \
        lo = v < lo ? v : lo;                                                                 \
        hi = v > hi ? v : hi;                                                                 \
        s[0] += (double)v;                                                                    \
        q[0] += (double)v * (double)v;                                                        \
    }                                                                                         \
    acc[0] = (double)lo < acc[0] ? (double)lo : acc[0];                                       \
    acc[1] = (double)hi > acc[1] ? (double)hi : acc[1];                                       \
    acc[2] += (s[0] + s[1]) + (s[2] + s[3]);                                                  \
    acc[3] += (q[0] + q[1]) + (q[2] + q[3]);                                                  \
}

STATS_PORTABLE(stats_f32_portable, float)
STATS_PORTABLE(stats_f64_portable, double)

#define FINITE_STATS(NAME, FT)                                                                \
static void NAME(const FT *x, Py_ssize_t n, double *acc) {                                    \
    double s = 0.0, q = 0.0;                                                                  \
    for (Py_ssize_t i = 0; i < n; i++) {                                                      \
        double d = (double)x[i];                                                              \
        if (fabs(d) <= DBL_MAX) { /* false for NaN and +-Inf */                               \
            acc[0] = d < acc[0] ? d : acc[0];                                                 \
            acc[1] = d > acc[1] ? d : acc[1];                                                 \
            s += d;                                                                           \
            q += d * d;                                                                       \
        }                                                                                     \
    }                                                                                         \
    acc[2] += s;                                                                              \
    acc[3] += q;                                                                              \
}

FINITE_STATS(finite_stats_f32, float)
FINITE_STATS(finite_stats_f64, double)

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__)) && !defined(ANYBOARD_PORTABLE_STATS)
#include <immintrin.h>
#define HAVE_AVX2_STATS 1
#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static double hsum_pd(__m256d v) {
    __m128d lo = _mm256_castpd256_pd128(v), hi = _mm256_extractf128_pd(v, 1);
    lo = _mm_add_pd(lo, hi);
    return _mm_cvtsd_f64(lo) + _mm_cvtsd_f64(_mm_unpackhi_pd(lo, lo));
}

/* out[2], out[3] += the four sum / square accumulators, pairwise */
#define AVX2_SUMS_INTO(out, s0, s1, s2, s3, q0, q1, q2, q3)                                   \
    do {                                                                                      \
        (out)[2] += hsum_pd(_mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3)));     \
        (out)[3] += hsum_pd(_mm256_add_pd(_mm256_add_pd(q0, q1), _mm256_add_pd(q2, q3)));     \
    } while (0)

/* g[0], g[1] (min, max) folded with the W lanes of the vectors lo, hi (type FT), lane by lane. */
#define FOLD_MINMAX(FT, W, lo, hi, g)                                                         \
    do {                                                                                      \
        FT l_[W], h_[W];                                                                      \
        memcpy(l_, &(lo), sizeof l_);                                                         \
        memcpy(h_, &(hi), sizeof h_);                                                         \
        for (int k_ = 0; k_ < W; k_++) {                                                      \
            (g)[0] = (double)l_[k_] < (g)[0] ? (double)l_[k_] : (g)[0];                       \
            (g)[1] = (double)h_[k_] > (g)[1] ? (double)h_[k_] : (g)[1];                       \
        }                                                                                     \
    } while (0)

/* Four vectors of doubles into the running sums (s0..s3) and sums of squares (q0..q3). */
#define AVX2_ACCUMULATE(a, b, c, d)                                                           \
    do {                                                                                      \
        s0 = _mm256_add_pd(s0, (a));                                                          \
        s1 = _mm256_add_pd(s1, (b));                                                          \
        s2 = _mm256_add_pd(s2, (c));                                                          \
        s3 = _mm256_add_pd(s3, (d));                                                          \
        q0 = _mm256_fmadd_pd((a), (a), q0);                                                   \
        q1 = _mm256_fmadd_pd((b), (b), q1);                                                   \
        q2 = _mm256_fmadd_pd((c), (c), q2);                                                   \
        q3 = _mm256_fmadd_pd((d), (d), q3);                                                   \
    } while (0)

static int have_avx2;   /* the CPU runs AVX2 and FMA: set once when the module is loaded */
static int have_avx512; /* ... and AVX-512 F, DQ, BW and VL */

static void detect_cpu(void) {
    __builtin_cpu_init();
    have_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    have_avx512 = have_avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                  __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}
#endif


/* One block x[i..end) of the pass: its values counted into the lanes and its statistics added
 * into g = [min, max, sum, sum of squares]. The portable kernel: the counting loop, then the
 * statistics loop over the same block, still in L1. */
#define BLOCK_PORTABLE(NAME, FT, UT, STATS)                                                   \
static inline void NAME(const Layout *self, const LogP *lp, const FT *x, Py_ssize_t i,         \
                        Py_ssize_t end, uint32_t *lanes, double *g, Py_ssize_t stride) {      \
    (void)lp; /* the AVX-512 kernel's; the lanes' stride is nslot here */                     \
    (void)stride;                                                                             \
    const int16_t *table = self->table;                                                       \
    const FT *cmp = (const FT *)self->cmp;                                                    \
    const int shift = self->shift;                                                            \
    const Py_ssize_t nslot = self->nslot, first = i;                                          \
    COUNT_LANES(FT, UT, x, i, end, lanes, nslot);                                             \
    STATS(x + first, end - first, g);                                                         \
}

BLOCK_PORTABLE(block_f32_portable, float, uint32_t, stats_f32_portable)
BLOCK_PORTABLE(block_f64_portable, double, uint64_t, stats_f64_portable)

#ifdef HAVE_AVX2_STATS
/* The AVX2 kernel's block: each 16 values' statistics in 256-bit registers (min/max in the
 * value's type, one vector each, folded into g at the end of the block; sums in double, four
 * accumulators each, added pairwise at the end of the block; squares with FMA, one rounding)
 * and their counting in one loop body; a tail of < 16 values goes through the portable loops. */
#define FUSED_F32_16(p)                                                                       \
    do {                                                                                      \
        __m256 u = _mm256_loadu_ps(p), v = _mm256_loadu_ps((p) + 8);                          \
        lo = _mm256_min_ps(u, lo); /* (value, running): a NaN value keeps the running one */  \
        hi = _mm256_max_ps(u, hi);                                                            \
        lo = _mm256_min_ps(v, lo);                                                            \
        hi = _mm256_max_ps(v, hi);                                                            \
        __m256d a = _mm256_cvtps_pd(_mm256_castps256_ps128(u));                               \
        __m256d b = _mm256_cvtps_pd(_mm256_extractf128_ps(u, 1));                             \
        __m256d c = _mm256_cvtps_pd(_mm256_castps256_ps128(v));                               \
        __m256d d = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));                             \
        AVX2_ACCUMULATE(a, b, c, d);                                                          \
    } while (0)
#define FUSED_F64_16(p)                                                                       \
    do {                                                                                      \
        __m256d a = _mm256_loadu_pd(p), b = _mm256_loadu_pd((p) + 4);                         \
        __m256d c = _mm256_loadu_pd((p) + 8), d = _mm256_loadu_pd((p) + 12);                  \
        /* min(a, b) is b where a or b is NaN: a lane may lose a value to a NaN, but any NaN  \
         * makes count_stats redo the statistics masked */                                    \
        lo = _mm256_min_pd(_mm256_min_pd(a, b), lo);                                          \
        hi = _mm256_max_pd(_mm256_max_pd(a, b), hi);                                          \
        lo = _mm256_min_pd(_mm256_min_pd(c, d), lo);                                          \
        hi = _mm256_max_pd(_mm256_max_pd(c, d), hi);                                          \
        AVX2_ACCUMULATE(a, b, c, d);                                                          \
    } while (0)

#define BLOCK_AVX2(NAME, FT, UT, VT, SET1, W, FUSED16, TAIL)                                   \
AVX2 static inline void NAME(const Layout *self, const LogP *lp, const FT *x, Py_ssize_t i,    \
                             Py_ssize_t end, uint32_t *lanes, double *g, Py_ssize_t stride) { \
    (void)lp;                                                                                 \
    (void)stride;                                                                             \
    const int16_t *table = self->table;                                                       \
    const FT *cmp = (const FT *)self->cmp;                                                    \
    const int shift = self->shift;                                                            \
    const Py_ssize_t nslot = self->nslot;                                                     \
    VT lo = SET1((FT)INFINITY), hi = SET1((FT)-INFINITY);                                     \
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0, q0 = s0, q1 = s0, q2 = s0, q3 = s0; \
    while (i + 16 <= end) {                                                                   \
        FUSED16(x + i);                                                                       \
        Py_ssize_t stop = i + 16;                                                             \
        COUNT_LANES(FT, UT, x, i, stop, lanes, nslot);                                        \
    }                                                                                         \
    FOLD_MINMAX(FT, W, lo, hi, g);                                                            \
    AVX2_SUMS_INTO(g, s0, s1, s2, s3, q0, q1, q2, q3);                                        \
    if (i < end) {                                                                            \
        TAIL(x + i, end - i, g);                                                              \
        COUNT_LANES(FT, UT, x, i, end, lanes, nslot);                                         \
    }                                                                                         \
}

BLOCK_AVX2(block_f32_avx2, float, uint32_t, __m256, _mm256_set1_ps, 8, FUSED_F32_16,
           stats_f32_portable)
BLOCK_AVX2(block_f64_avx2, double, uint64_t, __m256d, _mm256_set1_pd, 4, FUSED_F64_16,
           stats_f64_portable)
#endif

#if defined(HAVE_AVX2_STATS) && !defined(ANYBOARD_NO_AVX512)
#define HAVE_AVX512_STATS 1
/* -- AVX-512 kernel (float32 and float64), where the CPU has AVX-512 F/DQ/BW/VL ----------------
 *
 * The same blocks and groups as COUNT_STATS and the same statistics arithmetic in the same order
 * as BLOCK_AVX2 (sums in two 512-bit accumulators laid out as its four 256-bit ones), so counts,
 * min, max and sums are bit for bit the AVX2 kernel's (tests/test_histogram_fused.py builds the
 * module without this kernel and compares).
 *
 * Slots without the table: the AVX2 kernel's table load and edge-cell branch are its cost, and
 * AVX-512 gathers take ~1.2 cycles per element. For the TensorFlow layout (compare values
 * -P[NP-1..0], 0, +P[0..NP-1] with P[j] = 1e-12 * 1.1^j) the slot of a finite v is a function
 * of c = clamp(floor(T) + 1, 0, NP), T = log_1.1(|v| / 1e-12):
 *     v > 0, +0 or -0: NP + 1 + c        v < 0: NP - c        NaN, +-Inf: nslot - 1.
 * t = T + 1 is computed in float32 with getexp/getmant and a degree-5 polynomial (16 lanes,
 * no memory access); its error is < 1.6e-4 (measured over every float32 value). A lane whose t
 * lies within LOG_DELTA = 3e-4 of an integer is "ambiguous" (5.7e-4 of random values, about 1 %
 * of 16-value vectors): its slot is then one of two, and comparing the value with the compare
 * values on either side of the formula's one picks the exact one (FIX_AMBIGUOUS). Every other
 * lane is exact, as checked against SLOT for all 2^32 float32 bit patterns when the kernel was
 * written. (The ambiguous lanes first took their slot from the cell table, SLOT: ~570 reads per
 * 1e6 values, most of them cache misses in 512 KiB, were 15 % of the pass.)
 * float64 values are rounded to float32 for t (the error grows by log_1.1(1 + 2^-24) = 6.3e-7,
 * still < 3e-4); their sign and non-finiteness come from the doubles. The bound holds for this
 * exact instruction sequence: change it only with that check redone.
 *
 * Counting: the 16 slots (plus lane offsets, NL512 lanes of `stride` counters) go to a ring of
 * 4 buffers and are counted 3 iterations later as 64-bit pairs (counting a buffer right after
 * its 512-bit store, or extracting lanes with vpextrq, was slower); the 16 increments per 16
 * values (~1 cycle each) are the limit, the vector work runs beside them. 8 lanes: all-equal
 * data (zeros, ReLU) chain through store forwarding on 4.
 *
 * Measured on the benchmark VM (Zen 5), 1e6 values, against the AVX2 kernel in the same runs:
 * float32 0.36 against 0.60 ns per value cold, 0.32 against 0.56 hot; float64 0.48-0.51 against
 * 0.73-0.75 cold (with the table for ambiguous lanes; without it, float32 1e6 is 0.32-0.35 ms
 * where it was 0.38-0.42, on one thread, in the same runs). Any other layout (logp_init refuses
 * it) takes the AVX2 kernel. */

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))
#define LOG_DELTA 3e-4f
#define NL512 8 /* count lanes */


/* The polynomial: Chebyshev fit of log2(m) / log2(1.1) on [1, 2], constant term plus
 * -log2(1e-12) / log2(1.1) + 1. The compare values must be the TF layout: -P[np-1] .. -P[0], 0,
 * P[0] .. P[np-1] with each P[j] (as stored: rounded to the value type, the last one maybe moved
 * up one ulp) within 1e-5 (in units of log_1.1) of 1e-12 * 1.1^j, so that no compare value can
 * change a decision outside the ambiguous band (1e-5 + the 1.6e-4 error of t < LOG_DELTA).
 * Returns -1 for any other layout (then use the AVX2 kernel). */
static int logp_init(LogP *lp, const Layout *L) {
    if (L->ncmp % 2 != 1 || L->ncmp > 100001) return -1;
    Py_ssize_t np = L->ncmp / 2;
    for (Py_ssize_t k = 0; k < L->ncmp; k++) {
        double v = L->is32 ? ((const float *)L->cmp)[k] : ((const double *)L->cmp)[k];
        Py_ssize_t j = k < np ? np - 1 - k : k - np - 1; /* the edge index (k != np) */
        if (k == np) {
            if (v != 0.0) return -1;
            continue;
        }
        if ((k < np) != (v < 0)) return -1;
        if (fabs(v) >= FLT_MAX / 2) return -1; /* t is taken in float32: an edge must be far inside its range */
        double t = log(fabs(v) / 1e-12) / log(1.1);
        if (!(fabs(t - (double)j) < 1e-5)) return -1;
    }
    static const double co[6] = {270.58569825109652, 36.870010152267326, -25.600935467999207,
                                 11.710082061783446, -2.9779279439478463, 0.31947274258811137};
    lp->np = (int)np;
    for (int k = 0; k < 6; k++) lp->c[k] = (float)co[k];
    lp->C1 = (float)7.2725408973417132;
    return 0;
}

#define LOG_DECL(lp)                                                                          \
    const __m512 lc0 = _mm512_set1_ps((lp)->c[0]), lc1 = _mm512_set1_ps((lp)->c[1]);          \
    const __m512 lc2 = _mm512_set1_ps((lp)->c[2]), lc3 = _mm512_set1_ps((lp)->c[3]);          \
    const __m512 lc4 = _mm512_set1_ps((lp)->c[4]), lc5 = _mm512_set1_ps((lp)->c[5]);          \
    const __m512 lC1 = _mm512_set1_ps((lp)->C1), ldelta = _mm512_set1_ps(LOG_DELTA);          \
    const __m512 lhalf = _mm512_set1_ps(0.5f), lnph = _mm512_set1_ps((float)(lp)->np + 0.5f); \
    const __m512i lones = _mm512_set1_epi32(-1);

/* s = slot - (NP + 1) of the 16 float32 X (ng: the negative lanes), amb: the ambiguous lanes.
 * t is clamped to [0.5, NP + 0.5]: floor(clamped t) = clamp(floor(t), 0, NP), and +-0
 * (t = -inf), +-Inf and NaN (max(NaN, 0.5) = 0.5) are never ambiguous. */
#define LOG_SLOTS(X, ng, s, amb)                                                              \
    do {                                                                                      \
        __m512 e_ = _mm512_getexp_ps(X);                                                      \
        __m512 m_ = _mm512_getmant_ps(X, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);              \
        __m512 t_ = _mm512_fmadd_ps(lc5, m_, lc4);                                            \
        t_ = _mm512_fmadd_ps(t_, m_, lc3);                                                    \
        t_ = _mm512_fmadd_ps(t_, m_, lc2);                                                    \
        t_ = _mm512_fmadd_ps(t_, m_, lc1);                                                    \
        t_ = _mm512_fmadd_ps(t_, m_, lc0);                                                    \
        t_ = _mm512_fmadd_ps(e_, lC1, t_);                                                    \
        t_ = _mm512_min_ps(_mm512_max_ps(t_, lhalf), lnph);                                   \
        __m512i k_ = _mm512_cvt_roundps_epi32(t_, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); \
        __m512 d_ = _mm512_reduce_ps(t_, _MM_FROUND_TO_NEAREST_INT); /* t - round(t) */       \
        (amb) = _mm512_cmp_ps_mask(_mm512_abs_ps(d_), ldelta, _CMP_LT_OQ);                    \
        (s) = _mm512_mask_xor_epi32(k_, ng, k_, lones); /* negative: -1 - c */                \
    } while (0)

/* min/max in 8 (float) / 4 (double) lanes in the AVX2 kernel's order; sums in two 512-bit
 * accumulators s01 = [s0 | s1], s23 = [s2 | s3] (the AVX2 kernel's four 256-bit ones, lane for
 * lane), folded as the AVX2 kernel folds its four. */
#define STATS_FOLD512(FT, W)                                                                  \
    do {                                                                                      \
        FOLD_MINMAX(FT, W, lo, hi, g);                                                        \
        AVX2_SUMS_INTO(g, _mm512_castpd512_pd256(s01), _mm512_extractf64x4_pd(s01, 1),         \
                       _mm512_castpd512_pd256(s23), _mm512_extractf64x4_pd(s23, 1),            \
                       _mm512_castpd512_pd256(q01), _mm512_extractf64x4_pd(q01, 1),            \
                       _mm512_castpd512_pd256(q23), _mm512_extractf64x4_pd(q23, 1));           \
    } while (0)

/* The 16 slots w (lane offsets added) of the values at x + i: each ambiguous lane's slot is within
 * one of the exact one (t is within LOG_DELTA + 1.6e-4 < 1 of an integer, so floor(t) is one of
 * the two integers around it), and comparing the value with the compare values on either side of
 * it (the 6-12 KiB cmp array, not the 0.5-2 MiB cell table that SLOT reads, cold after a pause)
 * gives the exact one: the count of compare values <= v. */
#define FIX_AMBIGUOUS(FT, amb, w)                                                             \
    if (__builtin_expect((amb) != 0, 0)) {                                                    \
        unsigned a_ = (amb);                                                                  \
        do {                                                                                  \
            int p_ = __builtin_ctz(a_);                                                       \
            FT v_ = x[i + p_];                                                                \
            uint32_t off_ = (uint32_t)((p_ % NL512) * stride);                                \
            Py_ssize_t sl_ = (Py_ssize_t)((w)[p_] - off_);                                    \
            if (sl_ > 0 && v_ < cmp[sl_ - 1]) sl_--;                                          \
            else if (sl_ < ncmp && v_ >= cmp[sl_]) sl_++;                                     \
            (w)[p_] = (uint32_t)sl_ + off_;                                                   \
            a_ &= a_ - 1;                                                                     \
        } while (a_);                                                                         \
    }

/* Count the 16 slots of ring buffer r (64-bit pairs). */
#define COUNT_RING(r)                                                                         \
    do {                                                                                      \
        _Pragma("GCC unroll 8")                                                               \
        for (int p_ = 0; p_ < 8; p_++) {                                                      \
            uint64_t q_;                                                                      \
            memcpy(&q_, (r) + 2 * p_, 8);                                                     \
            lanes[(uint32_t)q_]++;                                                            \
            lanes[q_ >> 32]++;                                                                \
        }                                                                                     \
    } while (0)

#define RING_DEPTH 3 /* count the slots stored 3 iterations earlier (ring of 4) */

/* The 16 values at x + i (as float32 X; ng: the negative lanes, nf: NaN and +-Inf) into ring
 * buffer j, the ambiguous lanes fixed; count the buffer of 3 iterations ago; i += 16. */
#define SLOTS_INTO_RING(FT, X, ng, nf)                                                       \
    do {                                                                                      \
        __mmask16 amb_;                                                                       \
        __m512i s_;                                                                           \
        LOG_SLOTS(X, ng, s_, amb_);                                                           \
        s_ = _mm512_add_epi32(s_, base);                                                      \
        s_ = _mm512_mask_mov_epi32(s_, (nf), nfs);                                            \
        uint32_t *w = ring[j & 3];                                                            \
        _mm512_store_si512(w, s_);                                                            \
        FIX_AMBIGUOUS(FT, amb_, w)                                                            \
        if (j >= RING_DEPTH) COUNT_RING(ring[(j - RING_DEPTH) & 3]);                          \
        j++;                                                                                  \
        i += 16;                                                                              \
    } while (0)

#define BLOCK_PROLOGUE(FT)                                                                    \
    LOG_DECL(lp)                                                                              \
    const int16_t *table = self->table; /* the tail's SLOT */                                 \
    const FT *cmp = (const FT *)self->cmp;                                                    \
    const Py_ssize_t ncmp = self->ncmp;                                                       \
    const int shift = self->shift;                                                            \
    int32_t o_[16];                                                                           \
    for (int p = 0; p < 16; p++) o_[p] = (int32_t)((p % NL512) * stride);                     \
    const __m512i off = _mm512_loadu_si512(o_);                                               \
    const __m512i base = _mm512_add_epi32(off, _mm512_set1_epi32(lp->np + 1));                \
    const __m512i nfs = _mm512_add_epi32(off, _mm512_set1_epi32((int)self->nslot - 1));       \
    __m512d s01 = _mm512_setzero_pd(), s23 = s01, q01 = s01, q23 = s01;                       \
    uint32_t ring[4][16] __attribute__((aligned(64)));                                        \
    unsigned j = 0;

#define BLOCK_EPILOGUE(FT, W, STATS_TAIL, UT)                                                 \
    for (unsigned k = j > RING_DEPTH ? j - RING_DEPTH : 0; k < j; k++) COUNT_RING(ring[k & 3]); \
    STATS_FOLD512(FT, W);                                                                     \
    if (i < end) {                                                                            \
        STATS_TAIL(x + i, end - i, g);                                                        \
        for (; i < end; i++) {                                                                \
            FT tv = x[i];                                                                     \
            int ts;                                                                           \
            SLOT(UT, tv, ts);                                                                 \
            lanes[ts]++;                                                                      \
        }                                                                                     \
    }

/* One block x[i..end) (<= SBLOCK values): counts into NL512 lanes of `stride` counters, the
 * statistics into g = [min, max, sum, sum of squares]. */
AVX512 static inline void block_f32_avx512(const Layout *self, const LogP *lp, const float *x,
                                           Py_ssize_t i, Py_ssize_t end, uint32_t *lanes,
                                           double *g, Py_ssize_t stride) {
    BLOCK_PROLOGUE(float)
    __m256 lo = _mm256_set1_ps(INFINITY), hi = _mm256_set1_ps(-INFINITY);
    const __m512 fzero = _mm512_setzero_ps();
    while (i + 16 <= end) {
        __m512 X = _mm512_loadu_ps(x + i);
        __m256 u = _mm512_castps512_ps256(X), v = _mm512_extractf32x8_ps(X, 1);
        lo = _mm256_min_ps(u, lo);
        hi = _mm256_max_ps(u, hi);
        lo = _mm256_min_ps(v, lo);
        hi = _mm256_max_ps(v, hi);
        __m512d A = _mm512_cvtps_pd(u), C = _mm512_cvtps_pd(v);
        s01 = _mm512_add_pd(s01, A);
        s23 = _mm512_add_pd(s23, C);
        q01 = _mm512_fmadd_pd(A, A, q01);
        q23 = _mm512_fmadd_pd(C, C, q23);
        __mmask16 ng = _mm512_cmp_ps_mask(X, fzero, _CMP_LT_OQ);
        SLOTS_INTO_RING(float, X, ng, _mm512_fpclass_ps_mask(X, 0x99)); /* NaN, +-Inf */
    }
    BLOCK_EPILOGUE(float, 8, stats_f32_portable, uint32_t)
}

AVX512 static inline void block_f64_avx512(const Layout *self, const LogP *lp, const double *x,
                                           Py_ssize_t i, Py_ssize_t end, uint32_t *lanes,
                                           double *g, Py_ssize_t stride) {
    BLOCK_PROLOGUE(double)
    __m256d lo = _mm256_set1_pd(INFINITY), hi = _mm256_set1_pd(-INFINITY);
    const __m512d dzero = _mm512_setzero_pd();
    while (i + 16 <= end) {
        __m512d A = _mm512_loadu_pd(x + i), C = _mm512_loadu_pd(x + i + 8);
        __m256d a = _mm512_castpd512_pd256(A), b = _mm512_extractf64x4_pd(A, 1);
        __m256d c = _mm512_castpd512_pd256(C), d = _mm512_extractf64x4_pd(C, 1);
        lo = _mm256_min_pd(_mm256_min_pd(a, b), lo);
        hi = _mm256_max_pd(_mm256_max_pd(a, b), hi);
        lo = _mm256_min_pd(_mm256_min_pd(c, d), lo);
        hi = _mm256_max_pd(_mm256_max_pd(c, d), hi);
        s01 = _mm512_add_pd(s01, A);
        s23 = _mm512_add_pd(s23, C);
        q01 = _mm512_fmadd_pd(A, A, q01);
        q23 = _mm512_fmadd_pd(C, C, q23);
        __m512 X = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(A)), _mm512_cvtpd_ps(C), 1);
        __mmask16 ng = _mm512_kunpackb(_mm512_cmp_pd_mask(C, dzero, _CMP_LT_OQ),
                                       _mm512_cmp_pd_mask(A, dzero, _CMP_LT_OQ));
        __mmask16 nf = _mm512_kunpackb(_mm512_fpclass_pd_mask(C, 0x99), _mm512_fpclass_pd_mask(A, 0x99));
        SLOTS_INTO_RING(double, X, ng, nf);
    }
    BLOCK_EPILOGUE(double, 4, stats_f64_portable, uint64_t)
}

#endif


/* Add the NLANES lanes of nslot counters each into counts. */
static void fold_lanes(const uint32_t *lanes, int nlanes, Py_ssize_t nslot, int64_t *counts) {
    for (Py_ssize_t b = 0; b < nslot; b++) {
        int64_t t = 0;
        for (int l = 0; l < nlanes; l++) t += lanes[l * nslot + b];
        counts[b] += t;
    }
}

/* The pass over x[0..n) (see count_stats above) into NLANES count lanes, one BLOCK call per
 * SBLOCK values: lane flushes every `block` values, each group's sums added into
 * acc = [min, max, sum, sum of squares]. */
#define COUNT_STATS(NAME, ATTR, FT, BLOCK, NLANES)                                            \
ATTR static void NAME(const Layout *self, const void *values, Py_ssize_t n, int64_t *counts,   \
                      uint32_t *lanes, double *acc) {                                         \
    const FT *x = (const FT *)values;                                                         \
    const Py_ssize_t nslot = self->nslot, block = self->block;                                \
    for (Py_ssize_t start = 0; start < n; start += block) {                                   \
        Py_ssize_t end = n - start < block ? n : start + block;                               \
        memset(lanes, 0, sizeof(uint32_t) * NLANES * nslot);                                  \
        for (Py_ssize_t gb = start; gb < end; gb += SGROUP * SBLOCK) {                        \
            Py_ssize_t ge = end - gb < SGROUP * SBLOCK ? end : gb + SGROUP * SBLOCK;          \
            double g[4] = {acc[0], acc[1], 0.0, 0.0}; /* this group's sums */                 \
            for (Py_ssize_t sb = gb; sb < ge; sb += SBLOCK)                                   \
                BLOCK(self, &self->logp, x, sb, ge - sb < SBLOCK ? ge : sb + SBLOCK, lanes, g, nslot); \
            acc[0] = g[0];                                                                    \
            acc[1] = g[1];                                                                    \
            acc[2] += g[2];                                                                   \
            acc[3] += g[3];                                                                   \
        }                                                                                     \
        fold_lanes(lanes, NLANES, nslot, counts);                                             \
    }                                                                                         \
}

COUNT_STATS(count_stats_f32_portable, , float, block_f32_portable, LANES)
COUNT_STATS(count_stats_f64_portable, , double, block_f64_portable, LANES)

#ifdef HAVE_AVX2_STATS
COUNT_STATS(count_stats_f32_avx2, AVX2, float, block_f32_avx2, LANES)
COUNT_STATS(count_stats_f64_avx2, AVX2, double, block_f64_avx2, LANES)
#endif
#ifdef HAVE_AVX512_STATS
COUNT_STATS(count_stats_f32_avx512, AVX512, float, block_f32_avx512, NL512)
COUNT_STATS(count_stats_f64_avx512, AVX512, double, block_f64_avx512, NL512)
#endif

#define GVALUES ((Py_ssize_t)SGROUP * SBLOCK) /* values per group */

/* Groups [g0, g1) of x[0..n): counted into lanes, each group's [min, max, sum, sum of squares]
 * into gstats[4 * group] (min/max from +-Inf: folded into the running ones afterwards). The
 * two-thread pass (below) is made of these. */
#define GROUPS(NAME, ATTR, FT, BLOCK)                                                         \
ATTR static void NAME(const Layout *self, const void *values, Py_ssize_t n, Py_ssize_t g0,     \
                      Py_ssize_t g1, uint32_t *lanes, double *gstats) {                       \
    const FT *x = (const FT *)values;                                                         \
    for (Py_ssize_t gi = g0; gi < g1; gi++) {                                                 \
        Py_ssize_t gb = gi * GVALUES, ge = n - gb < GVALUES ? n : gb + GVALUES;               \
        double g[4] = {INFINITY, -INFINITY, 0.0, 0.0};                                        \
        for (Py_ssize_t sb = gb; sb < ge; sb += SBLOCK)                                       \
            BLOCK(self, &self->logp, x, sb, ge - sb < SBLOCK ? ge : sb + SBLOCK, lanes, g, self->nslot); \
        memcpy(gstats + 4 * gi, g, sizeof g);                                                 \
    }                                                                                         \
}

GROUPS(groups_f32_portable, , float, block_f32_portable)
GROUPS(groups_f64_portable, , double, block_f64_portable)
#ifdef HAVE_AVX2_STATS
GROUPS(groups_f32_avx2, AVX2, float, block_f32_avx2)
GROUPS(groups_f64_avx2, AVX2, double, block_f64_avx2)
#endif
#ifdef HAVE_AVX512_STATS
GROUPS(groups_f32_avx512, AVX512, float, block_f32_avx512)
GROUPS(groups_f64_avx512, AVX512, double, block_f64_avx512)
#endif

/* One kernel's entry points, [0] float64, [1] float32 (index: Layout.is32). */
typedef struct {
    const char *name;  /* Layout.kernel */
    int lanes;         /* count lanes (its lane buffers hold MAXLANES * nslot) */
    void (*pass[2])(const Layout *, const void *, Py_ssize_t, int64_t *, uint32_t *, double *);
    void (*groups[2])(const Layout *, const void *, Py_ssize_t, Py_ssize_t, Py_ssize_t, uint32_t *, double *);
} Kernel;

static const Kernel KERNEL_PORTABLE = {"portable", LANES, {count_stats_f64_portable, count_stats_f32_portable},
                                       {groups_f64_portable, groups_f32_portable}};
#ifdef HAVE_AVX2_STATS
static const Kernel KERNEL_AVX2 = {"avx2", LANES, {count_stats_f64_avx2, count_stats_f32_avx2},
                                   {groups_f64_avx2, groups_f32_avx2}};
#endif
#ifdef HAVE_AVX512_STATS
static const Kernel KERNEL_AVX512 = {"avx512", NL512, {count_stats_f64_avx512, count_stats_f32_avx512},
                                     {groups_f64_avx512, groups_f32_avx512}};
#endif

/* The kernel of this layout on this CPU: AVX-512 for TensorFlow's edges where the CPU has it
 * (have_avx512, logp_init), else AVX2 where the CPU has it (have_avx2, set when the module is
 * loaded), else the portable one. */
static const Kernel *kernel_of(const Layout *self) {
#ifdef HAVE_AVX512_STATS
    if (have_avx512 && self->log_ok) return &KERNEL_AVX512;
#endif
#ifdef HAVE_AVX2_STATS
    if (have_avx2) return &KERNEL_AVX2;
#endif
    (void)self;
    return &KERNEL_PORTABLE;
}


/* -- count_stats on two threads: the caller and one worker ------------------------------------ *
 *
 * A pass of many values (count_stats(..., threads=2)) is cut into chunks of CHUNK_GROUPS groups
 * (the COUNT_STATS groups above) that the caller and the process's one worker thread take in
 * turn from a shared counter: a worker that is slow to wake (an idle vCPU) or busy elsewhere
 * takes fewer, and the caller never waits for a chunk nobody started. Each thread counts into
 * its own lanes; each group's statistics go to their own slot, folded afterwards in group order
 * with the rules of the one-thread pass, so the counts, min, max and sums are bit for bit those
 * of count_stats on one thread.
 *
 * The worker is a plain OS thread (no Python state, never takes the GIL, all signals blocked),
 * started by the first split pass of the process and again in a forked child's first one. After
 * a job it watches for the next one for SPIN_NS (a burst of histograms comes back within that:
 * 10-30 µs of Python between two passes when warm, up to ~180 µs in a burst's first calls after
 * other work has cooled the caches; with 100 µs the worker slept between those, and each of the
 * burst's second and third passes paid a wake-up: 290-460 µs against 230-330), then sleeps on a
 * condition variable. One split pass runs at a time; a caller that finds one
 * running counts on its own thread, as does one after shared passes in which the two threads ran
 * by turns on one core (see the back-off below), and one whose thread may run on one CPU only.
 * Where the scheduler wakes the worker on the caller's CPU (Linux's wake-affine placement puts a
 * woken thread beside its waker, and with the worker asleep between bursts it stayed there while
 * the other CPU idled: the two threads ran by turns, each pass as slow as one thread's), the
 * worker moves itself off that CPU (sched_setaffinity to its starting CPUs but that one) before
 * it counts. The worker counts in the caller's floating-point mode. Where there are no POSIX
 * threads and C11 atomics, threads=2 is the one-thread pass. */
#if (defined(__unix__) || defined(__APPLE__)) && !defined(__STDC_NO_ATOMICS__) && !defined(ANYBOARD_NO_WORKER)
#define HAVE_WORKER 1
#include <fenv.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_GROUPS 2                        /* groups per chunk: 32768 values, ~20 µs */
#define SPIN_NS 500000                        /* the worker watches this long before sleeping */
#define SPLIT_MIN ((Py_ssize_t)1 << 17)       /* fewer values: one thread (waking one costs more) */

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

enum { JOB_CLOSED = 0, JOB_OPEN = 1, JOB_JOINED = 2, JOB_DONE = 3 }; /* low 2 bits of Job.state */

typedef struct {
    _Atomic uint64_t state;    /* (job number << 2) | phase: the worker joins only the job it saw posted */
    _Atomic Py_ssize_t next;   /* the next chunk to take */
    const Layout *layout;      /* the job's fields: written by the caller before it opens the job */
    const void *x;
    Py_ssize_t n, ngroups, nchunks;
    double *gstats;            /* 4 per group */
    int64_t *wcounts;          /* the worker's slot counts */
    Py_ssize_t worker_chunks;  /* written by the worker before JOB_DONE: the chunks it took ... */
    int64_t worker_cpu;        /* ... and its CPU time on them (ns) */
    fenv_t fenv;               /* the caller's floating-point mode (flush-to-zero, denormals-are-zero,
                                * rounding): the worker's chunks run in it, so the two threads' chunks
                                * are counted and summed alike */
    int worker_moved;          /* written by the worker before JOB_DONE: it left the caller's CPU */
} Job;

static Job job;                        /* the one split pass at a time */
static pthread_mutex_t job_lock = PTHREAD_MUTEX_INITIALIZER;  /* held by the caller of that pass */
static uint64_t job_number;            /* under job_lock */
static int worker_pid;                 /* under job_lock: the process whose worker runs (0: none) */
static _Atomic uint64_t posted;        /* the number of the last job posted */
#ifdef __linux__
static _Atomic int posted_cpu = -1;    /* the CPU its caller posted it from (-1: unknown) */
static _Atomic int pin_request = -1;   /* tests: the CPU the worker pins itself to when it next wakes */
#endif
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static int worker_sleeping;            /* under wake_lock */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* Back-off (under job_lock): a shared pass in which the two threads ran by turns, not at once
 * (time-sliced on one core: an oversubscribed machine, or a VM running one vCPU at a time), makes
 * the next skip_next passes one-thread ones, so the caller waits on no preempted worker;
 * skip_next doubles while shared passes keep gaining nothing (up to SKIP_MAX) and falls back to
 * SKIP_FIRST after one that gains. */
#define SKIP_FIRST 2
#define SKIP_MAX 64
#define GAIN_MIN 0.85 /* a shared pass must take at most this share of the caller's one-thread time */
static int skip_left, skip_next = SKIP_FIRST;
static int moved_last;                      /* the last shared pass's worker moved first */
static uint64_t passes_shared, passes_alone; /* count_stats(threads=2) calls: shared, or alone by back-off
                                             * or for want of a second CPU */
static _Atomic uint64_t worker_moves;       /* times the worker left a caller's CPU */

static void forget_worker(void) { /* in a forked child: the worker (and any lock holder) is gone */
    pthread_mutex_init(&job_lock, NULL);
    pthread_mutex_init(&wake_lock, NULL);
    pthread_cond_init(&wake_cond, NULL);
    worker_pid = 0;
    worker_sleeping = 0;
    job_number = 0;
    skip_left = 0;
    skip_next = SKIP_FIRST;
    moved_last = 0;
    passes_shared = passes_alone = 0;
    atomic_store(&worker_moves, 0);
    atomic_store(&posted, 0);
    atomic_store(&job.state, JOB_CLOSED);
}

static void register_atfork(void) { pthread_atfork(NULL, NULL, forget_worker); }

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int64_t cpu_ns(void) { /* this thread's CPU time */
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The next job number after `seen`: watched for SPIN_NS, then waited for asleep. */
static uint64_t wait_posted(uint64_t seen) {
    int64_t start = now_ns();
    for (unsigned i = 1;; i++) {
        uint64_t p = atomic_load_explicit(&posted, memory_order_acquire);
        if (p != seen) return p;
        CPU_RELAX();
        if ((i & 63) == 0 && now_ns() - start > SPIN_NS) break;
    }
    pthread_mutex_lock(&wake_lock);
    worker_sleeping = 1;
    uint64_t p;
    while ((p = atomic_load_explicit(&posted, memory_order_acquire)) == seen)
        pthread_cond_wait(&wake_cond, &wake_lock);
    worker_sleeping = 0;
    pthread_mutex_unlock(&wake_lock);
    return p;
}

#ifdef __linux__
/* The worker's own: the CPUs it may use (its creator's when it started, or whatever was set on it
 * from outside since: taskset -a, a cpuset) and the mask it last set itself. */
static cpu_set_t worker_home, worker_set;
static int worker_home_ok;

/* In the worker, woken by a post: if it runs on the CPU the post came from, keep to its other
 * CPUs (the call moves this thread at once); a mask set on it from outside since its last move
 * becomes its CPUs, so a restriction is never widened. 1 if it moved. */
static int leave_callers_cpu(void) {
    int pin = atomic_exchange_explicit(&pin_request, -1, memory_order_relaxed);
    if (pin >= 0 && pin < CPU_SETSIZE) { /* tests: as if the scheduler had woken it on that CPU */
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(pin, &one);
        if (sched_setaffinity(0, sizeof one, &one) == 0) worker_set = one;
    }
    int cpu = sched_getcpu(), caller = atomic_load_explicit(&posted_cpu, memory_order_relaxed);
    cpu_set_t now;
    if (!worker_home_ok || cpu < 0 || cpu != caller || sched_getaffinity(0, sizeof now, &now) != 0) return 0;
    if (!CPU_EQUAL(&now, &worker_set)) worker_home = now;
    cpu_set_t others = worker_home;
    CPU_CLR(cpu, &others);
    if (CPU_COUNT(&others) == 0 || sched_setaffinity(0, sizeof others, &others) != 0) return 0;
    worker_set = others;
    atomic_fetch_add_explicit(&worker_moves, 1, memory_order_relaxed);
    return 1;
}
#else
static int leave_callers_cpu(void) { return 0; }
#endif

/* Take chunks of the open job until none is left; count them into lanes (cleared first).
 * Returns how many it took. */
static Py_ssize_t take_chunks(uint32_t *lanes) {
    const Kernel *kernel = kernel_of(job.layout);
    memset(lanes, 0, sizeof(uint32_t) * (size_t)kernel->lanes * (size_t)job.layout->nslot);
    Py_ssize_t k, taken = 0;
    while ((k = atomic_fetch_add_explicit(&job.next, 1, memory_order_relaxed)) < job.nchunks) {
        Py_ssize_t g0 = k * CHUNK_GROUPS, g1 = g0 + CHUNK_GROUPS < job.ngroups ? g0 + CHUNK_GROUPS : job.ngroups;
        kernel->groups[job.layout->is32](job.layout, job.x, job.n, g0, g1, lanes, job.gstats);
        taken++;
    }
    return taken;
}


static void *worker_main(void *unused) {
    (void)unused;
    uint32_t *lanes = NULL;
    Py_ssize_t capacity = 0; /* slots the lanes hold */
    uint64_t seen = 0;
#ifdef __linux__
    worker_home_ok = sched_getaffinity(0, sizeof worker_home, &worker_home) == 0;
    worker_set = worker_home;
#endif
    for (;;) {
        seen = wait_posted(seen);
        int moved = leave_callers_cpu(); /* also for a job closed already: the next one finds it moved */
        uint64_t open = (seen << 2) | JOB_OPEN;
        if ((atomic_load_explicit(&job.state, memory_order_acquire)) != open) continue; /* closed already */
        /* the job's fields are read only once it is joined: its caller then waits for JOB_DONE */
        if (!atomic_compare_exchange_strong_explicit(&job.state, &open, (seen << 2) | JOB_JOINED,
                                                     memory_order_acq_rel, memory_order_acquire))
            continue;
        Py_ssize_t nslot = job.layout->nslot;
        fenv_t own;
        int moded = fegetenv(&own) == 0 && fesetenv(&job.fenv) == 0;
        if (nslot > capacity) {
            free(lanes);
            lanes = malloc(sizeof(uint32_t) * MAXLANES * (size_t)nslot);
            capacity = lanes == NULL ? 0 : nslot;
        }
        job.worker_chunks = 0;
        job.worker_cpu = 0;
        job.worker_moved = moved;
        memset(job.wcounts, 0, sizeof(int64_t) * (size_t)nslot);
        if (lanes != NULL && moded) { /* in its own mode it would count differently: take no chunk */
            int64_t cpu = cpu_ns();
            job.worker_chunks = take_chunks(lanes);
            job.worker_cpu = cpu_ns() - cpu;
            fold_lanes(lanes, kernel_of(job.layout)->lanes, nslot, job.wcounts);
        }
        if (moded) fesetenv(&own);
        atomic_store_explicit(&job.state, (seen << 2) | JOB_DONE, memory_order_release);
    }
    return NULL;
}

/* Start this process's worker if it has none (under job_lock). 0 if it runs. */
static int start_worker(void) {
    int pid = (int)getpid();
    if (worker_pid == pid) return 0;
    pthread_once(&atfork_once, register_atfork);
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) return -1;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, (size_t)1 << 18);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the worker inherits a mask blocking every signal */
    pthread_t thread;
    int failed = pthread_create(&thread, &attr, worker_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (failed) return -1;
    worker_pid = pid;
    return 0;
}

/* count_stats's pass on the caller and the worker: counts (zeroed) and acc as the one-thread
 * pass leaves them. -1 (nothing done) when it cannot: too few values, another split pass running,
 * no memory or no thread; the caller then makes the one-thread pass. */
static int count_stats_split(const Layout *self, const void *x, Py_ssize_t n, int64_t *counts, uint32_t *lanes,
                             double *acc) {
    if (n < SPLIT_MIN || n > self->block) return -1;
    if (pthread_mutex_trylock(&job_lock) != 0) return -1;
#ifdef __linux__
    /* The caller's CPUs: with one (taskset, a cpuset of one) the two threads could only take turns. */
    cpu_set_t allowed;
    int one_cpu = sched_getaffinity(0, sizeof allowed, &allowed) == 0 && CPU_COUNT(&allowed) < 2;
#else
    int one_cpu = 0;
#endif
    if (skip_left > 0 || one_cpu) {
        skip_left -= skip_left > 0;
        passes_alone++;
        pthread_mutex_unlock(&job_lock);
        return -1;
    }
    Py_ssize_t ngroups = (n + GVALUES - 1) / GVALUES;
    double *gstats = malloc(sizeof(double) * 4 * (size_t)ngroups);
    int64_t *wcounts = malloc(sizeof(int64_t) * (size_t)self->nslot);
    if (gstats == NULL || wcounts == NULL || fegetenv(&job.fenv) != 0 || start_worker() != 0) {
        free(gstats);
        free(wcounts);
        pthread_mutex_unlock(&job_lock);
        return -1;
    }
    int64_t start = now_ns(); /* before the post: a worker that runs at once on this core counts too */
    uint64_t number = ++job_number;
    job.layout = self;
    job.x = x;
    job.n = n;
    job.ngroups = ngroups;
    job.nchunks = (ngroups + CHUNK_GROUPS - 1) / CHUNK_GROUPS;
    job.gstats = gstats;
    job.wcounts = wcounts;
#ifdef __linux__
    atomic_store_explicit(&posted_cpu, sched_getcpu(), memory_order_relaxed); /* published by the post */
#endif
    atomic_store_explicit(&job.next, 0, memory_order_relaxed);
    atomic_store_explicit(&job.state, (number << 2) | JOB_OPEN, memory_order_release);
    pthread_mutex_lock(&wake_lock);
    atomic_store_explicit(&posted, number, memory_order_release);
    if (worker_sleeping) pthread_cond_signal(&wake_cond);
    pthread_mutex_unlock(&wake_lock);

    int64_t cpu = cpu_ns();
    take_chunks(lanes);
    int64_t own = cpu_ns() - cpu; /* CPU time: what the worker ran meanwhile on this core is not in it */
    fold_lanes(lanes, kernel_of(self)->lanes, self->nslot, counts);
    uint64_t open = (number << 2) | JOB_OPEN;
    Py_ssize_t worker_chunks = 0;
    int64_t worker_cpu = 0;
    int moved = 0;
    if (!atomic_compare_exchange_strong_explicit(&job.state, &open, (number << 2) | JOB_CLOSED,
                                                 memory_order_acq_rel, memory_order_acquire)) {
        /* the worker joined: wait for its last chunk */
        for (unsigned i = 1; atomic_load_explicit(&job.state, memory_order_acquire) != ((number << 2) | JOB_DONE); i++) {
            if (i < 4096) CPU_RELAX();
            else sched_yield();
        }
        for (Py_ssize_t b = 0; b < self->nslot; b++) counts[b] += wcounts[b];
        worker_chunks = job.worker_chunks;
        worker_cpu = job.worker_cpu;
        moved = job.worker_moved;
    }
    for (Py_ssize_t gi = 0; gi < ngroups; gi++) { /* the one-thread pass's order and rules */
        const double *g = gstats + 4 * gi;
        acc[0] = g[0] < acc[0] ? g[0] : acc[0];
        acc[1] = g[1] > acc[1] ? g[1] : acc[1];
        acc[2] += g[2];
        acc[3] += g[3];
    }
    atomic_store_explicit(&job.state, (number << 2) | JOB_CLOSED, memory_order_release);
    /* No gain: the worker counted a fair share of the chunks, yet the pass took as long as the
     * two threads' CPU times added up (they ran by turns). A worker that joined late (woken from
     * sleep) took few chunks: that is its wake-up, not a lack of cores; one that had to leave the
     * caller's CPU first ran by turns until it had left (unless it moves pass after pass: then
     * the CPUs it moves to are busy too). */
    if (moved && !moved_last) {
        /* judged by the next pass */
    } else if (worker_chunks * 4 >= job.nchunks && (double)(now_ns() - start) > GAIN_MIN * (double)(own + worker_cpu)) {
        skip_left = skip_next;
        skip_next = skip_next * 2 < SKIP_MAX ? skip_next * 2 : SKIP_MAX;
    } else {
        skip_next = SKIP_FIRST;
    }
    moved_last = moved;
    passes_shared++;
    free(gstats);
    free(wcounts);
    pthread_mutex_unlock(&job_lock);
    return 0;
}
#endif

/* float_to_uint8's loop, per element:  t = x * 255;  t = t > 0 ? t : 0  (NaN and negatives: 0);
 * t = t < 255 ? t : 255;  t = (t + 2^m) - 2^m  with m the mantissa bits: for 0 <= t < 2^m the
 * sum rounds to an integer, half to even (the default rounding mode, as np.rint), and the
 * difference is exact. Branch-free, so compilers vectorize it (-fno-trapping-math, set by
 * setup.py, lets them turn the selects into min/max); on x86-64 glibc Linux GCC also builds an AVX2
 * clone, chosen at load time. Needs FLT_EVAL_METHOD 0 (no x87 excess precision). */
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
#define HAVE_TO_UINT8 1
#define RESTRICT __restrict /* GCC, Clang and MSVC all accept this spelling */
#if defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CLONES
#endif

#define TO_UINT8(NAME, FT, MAGIC)                                                              \
CLONES static void NAME(const FT *RESTRICT x, uint8_t *RESTRICT out, Py_ssize_t n) {          \
    for (Py_ssize_t i = 0; i < n; i++) {                                                       \
        FT t = x[i] * (FT)255;                                                                 \
        t = t > 0 ? t : (FT)0;                                                                 \
        t = t < (FT)255 ? t : (FT)255;                                                         \
        t = (t + MAGIC) - MAGIC;                                                               \
        out[i] = (uint8_t)(int32_t)t;                                                          \
    }                                                                                          \
}

TO_UINT8(to_uint8_f32, float, 8388608.0f)
TO_UINT8(to_uint8_f64, double, 4503599627370496.0)
#endif

/* A C-contiguous buffer of obj with its item format (y* and w* give no format). */
static int get_buffer(PyObject *obj, Py_buffer *view, int writable) {
    return PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0));
}

static int is_code(const Py_buffer *view, const char *codes) {
    const char *f = view->format ? view->format : "B";
    if (*f == '@' || *f == '=') f++;
    return f[0] != '\0' && f[1] == '\0' && strchr(codes, f[0]) != NULL;
}

static void Layout_dealloc(Layout *self) {
    PyTypeObject *type = Py_TYPE(self); /* a heap type: each instance holds a reference to it */
    free(self->table);
    free(self->cmp);
    freefunc tp_free = (freefunc)PyType_GetSlot(type, Py_tp_free);
    tp_free(self);
    Py_DECREF(type);
}

static int Layout_init(Layout *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"compare_values", "cellbits", "block", NULL};
    PyObject *cmp_obj;
    Py_buffer cmp;
    int cellbits;
    Py_ssize_t block = BLOCK;
    if (self->table != NULL) {
        PyErr_SetString(PyExc_TypeError, "Layout is already initialized");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "Oi|$n", kwlist, &cmp_obj, &cellbits, &block)) return -1;
    if (get_buffer(cmp_obj, &cmp, 0) < 0) return -1;
    int ok = 0;
    if (!(is_code(&cmp, "f") || is_code(&cmp, "d"))) {
        PyErr_SetString(PyExc_TypeError, "compare_values must be a contiguous float32 or float64 buffer");
    } else if (cmp.len / cmp.itemsize < 2 || cmp.len / cmp.itemsize > 30000) {
        PyErr_SetString(PyExc_ValueError, "compare_values must hold 2 to 30000 values");
    } else if (cellbits < (cmp.itemsize == 4 ? 9 : 12) || cellbits > 22) {
        /* at least sign + exponent: a cell never mixes finite and non-finite values */
        PyErr_SetString(PyExc_ValueError, "cellbits must be in [9, 22] (float32) or [12, 22] (float64)");
    } else if (block < 1 || block > BLOCK) {
        PyErr_SetString(PyExc_ValueError, "block must be in [1, 2**30]");
    } else {
        ok = 1;
    }
    if (ok) {
        self->is32 = cmp.itemsize == 4;
        self->ncmp = cmp.len / cmp.itemsize;
        self->nslot = self->ncmp + 2;
        self->shift = 8 * (int)cmp.itemsize - cellbits;
        self->block = block;
        self->table = malloc(sizeof(int16_t) * ((size_t)1 << cellbits));
        self->cmp = malloc((size_t)cmp.len);
        if (!self->table || !self->cmp) {
            PyErr_NoMemory();
            ok = 0;
        } else {
            memcpy(self->cmp, cmp.buf, (size_t)cmp.len);
            for (Py_ssize_t k = 0; ok && k < self->ncmp; k++) {
                double prev = k == 0 ? -INFINITY : self->is32 ? ((float *)self->cmp)[k - 1] : ((double *)self->cmp)[k - 1];
                double here = self->is32 ? ((float *)self->cmp)[k] : ((double *)self->cmp)[k];
                if (!(prev < here && isfinite(here))) {
                    PyErr_SetString(PyExc_ValueError, "compare_values must be finite and strictly increasing");
                    ok = 0;
                }
            }
            if (ok && (self->is32 ? build_f32(self, cellbits) : build_f64(self, cellbits)) != 0) {
                PyErr_SetString(PyExc_ValueError, "two compare values share a cell: cellbits is too small");
                ok = 0;
            }
            self->log_ok = 0;
#ifdef HAVE_AVX512_STATS
            if (ok) self->log_ok = logp_init(&self->logp, self) == 0;
#endif
        }
        if (!ok) {
            free(self->table);
            free(self->cmp);
            self->table = NULL;
            self->cmp = NULL;
        }
    }
    PyBuffer_Release(&cmp);
    return ok ? 0 : -1;
}

PyDoc_STRVAR(count_doc,
"count(values, counts)\n--\n\n"
"Add the slot counts of ``values`` (a C-contiguous native float buffer of the layout's type) to\n"
"``counts`` (a writable int64 buffer of ``nslot`` entries): slot 0 below the first edge, slot k\n"
"for the bucket [edge k-1, edge k), slot nslot-2 above the last edge, slot nslot-1 NaN/Inf.\n"
"The GIL is released while counting; one Layout may count in several threads at once.");

/* The checks shared by count and count_stats: values of the layout's type, counts of nslot int64.
 * On success both buffers are held (the caller releases them) and 0 is returned. */
static int get_values_counts(Layout *self, PyObject *x_obj, PyObject *counts_obj, Py_buffer *x, Py_buffer *counts) {
    if (self->table == NULL) {
        PyErr_SetString(PyExc_TypeError, "Layout is not initialized");
        return -1;
    }
    if (get_buffer(x_obj, x, 0) < 0) return -1;
    if (get_buffer(counts_obj, counts, 1) < 0) {
        PyBuffer_Release(x);
        return -1;
    }
    if (!is_code(x, self->is32 ? "f" : "d")) {
        PyErr_Format(PyExc_TypeError, "values must be a C-contiguous native %s buffer",
                     self->is32 ? "float32" : "float64");
    } else if ((uintptr_t)x->buf % (uintptr_t)x->itemsize != 0) {
        PyErr_SetString(PyExc_ValueError, "values must be aligned to their item size");
    } else if (!is_code(counts, "ql") || counts->itemsize != 8 ||
               counts->len / 8 != self->nslot) {
        PyErr_Format(PyExc_ValueError, "counts must be a contiguous int64 buffer of %zd entries", self->nslot);
    } else {
        return 0;
    }
    PyBuffer_Release(x);
    PyBuffer_Release(counts);
    return -1;
}

static PyObject *Layout_count(Layout *self, PyObject *args) {
    PyObject *x_obj, *counts_obj;
    Py_buffer x, counts;
    if (!PyArg_ParseTuple(args, "OO", &x_obj, &counts_obj)) return NULL;
    if (get_values_counts(self, x_obj, counts_obj, &x, &counts) < 0) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = x.len / x.itemsize;
    uint32_t *lanes = malloc(sizeof(uint32_t) * LANES * (size_t)self->nslot); /* per call: reentrant */
    if (lanes == NULL) {
        PyErr_NoMemory();
    } else {
        Py_BEGIN_ALLOW_THREADS
        if (self->is32) count_f32(self, (const float *)x.buf, n, (int64_t *)counts.buf, lanes);
        else count_f64(self, (const double *)x.buf, n, (int64_t *)counts.buf, lanes);
        Py_END_ALLOW_THREADS
        free(lanes);
        result = Py_None;
        Py_INCREF(result);
    }
    PyBuffer_Release(&x);
    PyBuffer_Release(&counts);
    return result;
}

PyDoc_STRVAR(count_stats_doc,
"count_stats(values, counts, stats, threads=1)\n--\n\n"
"``count`` and the statistics of the finite values in the same pass: ``counts`` is overwritten\n"
"with the slot counts of ``values``, ``stats`` (a writable float64 buffer of 5 entries) with\n"
"``[num, min, max, sum, sum_squares]`` of the finite values (``num`` their count; none: ``num``,\n"
"``sum`` and ``sum_squares`` 0, ``min`` +Inf, ``max`` -Inf). Sums are taken in float64.\n"
"``threads=2``: the pass is shared with the process's worker thread (where there is one, for\n"
"at least ``SPLIT_MIN`` values), with the same results to the bit.\n"
"The GIL is released while counting.");

static PyObject *Layout_count_stats(Layout *self, PyObject *args) {
    PyObject *x_obj, *counts_obj, *stats_obj;
    Py_buffer x, counts, stats;
    int threads = 1;
    if (!PyArg_ParseTuple(args, "OOO|i", &x_obj, &counts_obj, &stats_obj, &threads)) return NULL;
    if (threads < 1) {
        PyErr_SetString(PyExc_ValueError, "threads must be at least 1");
        return NULL;
    }
    if (get_buffer(stats_obj, &stats, 1) < 0) return NULL;
    if (!is_code(&stats, "d") || stats.len != 5 * (Py_ssize_t)sizeof(double)) {
        PyErr_SetString(PyExc_ValueError, "stats must be a contiguous float64 buffer of 5 entries");
        PyBuffer_Release(&stats);
        return NULL;
    }
    if (get_values_counts(self, x_obj, counts_obj, &x, &counts) < 0) {
        PyBuffer_Release(&stats);
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t n = x.len / x.itemsize;
    int64_t *c = (int64_t *)counts.buf;
    uint32_t *lanes = malloc(sizeof(uint32_t) * MAXLANES * (size_t)self->nslot); /* per call: reentrant */
    if (lanes == NULL) {
        PyErr_NoMemory();
    } else {
        double acc[4] = {INFINITY, -INFINITY, 0.0, 0.0}, *out = (double *)stats.buf;
        Py_BEGIN_ALLOW_THREADS
        memset(c, 0, sizeof(int64_t) * (size_t)self->nslot);
        int split = -1;
#ifdef HAVE_WORKER
        if (threads > 1) split = count_stats_split(self, x.buf, n, c, lanes, acc);
#endif
        if (split != 0) kernel_of(self)->pass[self->is32](self, x.buf, n, c, lanes, acc);
        if (c[self->nslot - 1] > 0) { /* a NaN or an Inf: the statistics again, masked */
            acc[0] = INFINITY;
            acc[1] = -INFINITY;
            acc[2] = acc[3] = 0.0;
            for (Py_ssize_t sb = 0; sb < n; sb += SBLOCK) {
                Py_ssize_t m = n - sb < SBLOCK ? n - sb : SBLOCK;
                if (self->is32) finite_stats_f32((const float *)x.buf + sb, m, acc);
                else finite_stats_f64((const double *)x.buf + sb, m, acc);
            }
        }
        Py_END_ALLOW_THREADS
        free(lanes);
        out[0] = (double)(n - c[self->nslot - 1]);
        memcpy(out + 1, acc, sizeof acc);
        result = Py_None;
        Py_INCREF(result);
    }
    PyBuffer_Release(&x);
    PyBuffer_Release(&counts);
    PyBuffer_Release(&stats);
    return result;
}

PyDoc_STRVAR(span_doc,
"span(counts)\n--\n\n"
"``(first, stop)``: the first and one past the last non-zero bucket of ``counts`` (``count``'s\n"
"int64 slots; the buckets are slots 1 .. nslot-3), or ``(0, 0)`` when every bucket is empty.\n"
"Keeps the GIL (a few microseconds; NumPy's flatnonzero releases it and may then wait 5 ms\n"
"to get it back from a busy thread).");

static PyObject *Layout_span(Layout *self, PyObject *counts_obj) {
    Py_buffer counts;
    if (self->table == NULL) {
        PyErr_SetString(PyExc_TypeError, "Layout is not initialized");
        return NULL;
    }
    if (get_buffer(counts_obj, &counts, 0) < 0) return NULL;
    if (!is_code(&counts, "ql") || counts.itemsize != 8 || counts.len / 8 != self->nslot) {
        PyErr_Format(PyExc_ValueError, "counts must be a contiguous int64 buffer of %zd entries", self->nslot);
        PyBuffer_Release(&counts);
        return NULL;
    }
    const int64_t *c = (const int64_t *)counts.buf;
    Py_ssize_t first = 1, stop = self->nslot - 2;
    while (first < stop && c[first] == 0) first++;
    while (stop > first && c[stop - 1] == 0) stop--;
    PyBuffer_Release(&counts);
    if (first == stop) first = stop = 0;
    return Py_BuildValue("nn", first, stop);
}

static PyObject *Layout_get_nslot(Layout *self, void *Py_UNUSED(closure)) {
    return PyLong_FromSsize_t(self->nslot);
}

static PyObject *Layout_get_kernel(Layout *self, void *Py_UNUSED(closure)) {
    return PyUnicode_FromString(kernel_of(self)->name);
}

static PyMethodDef Layout_methods[] = {
    {"count", (PyCFunction)Layout_count, METH_VARARGS, count_doc},
    {"count_stats", (PyCFunction)Layout_count_stats, METH_VARARGS, count_stats_doc},
    {"span", (PyCFunction)Layout_span, METH_O, span_doc},
    {NULL},
};

static PyGetSetDef Layout_getset[] = {
    {"nslot", (getter)Layout_get_nslot, NULL, "number of count slots (edges + 2)", NULL},
    {"kernel", (getter)Layout_get_kernel, NULL,
     "count_stats's kernel for this layout on this CPU: 'avx512' (TensorFlow's edges only), 'avx2' or 'portable'", NULL},
    {NULL},
};

PyDoc_STRVAR(Layout_doc,
"Layout(compare_values, cellbits, *, block=2**30)\n--\n\n"
"A cell table for exact binning of float32 (``compare_values`` float32) or float64 values.\n"
"``block``: values counted into 32-bit lane counters between flushes (tests make it small).");

static PyType_Slot Layout_slots[] = {
    {Py_tp_doc, (void *)Layout_doc},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, (void *)Layout_init},
    {Py_tp_dealloc, (void *)Layout_dealloc},
    {Py_tp_methods, Layout_methods},
    {Py_tp_getset, Layout_getset},
    {0, NULL},
};

static PyType_Spec Layout_spec = {
    .name = "anyboard._native.Layout",
    .basicsize = sizeof(Layout),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Layout_slots,
};

#ifdef HAVE_TO_UINT8
PyDoc_STRVAR(float_to_uint8_doc,
"float_to_uint8(src, dst)\n--\n\n"
"Write the uint8 pixel of every value of ``src`` (a C-contiguous, aligned, native float32 or\n"
"float64 buffer) into ``dst`` (a writable C-contiguous uint8 buffer of as many items):\n"
"``x * 255`` clipped to [0, 255], NaN to 0, rounded half to even. The GIL is released.");

static PyObject *float_to_uint8(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *src_obj, *dst_obj;
    Py_buffer src, dst;
    if (!PyArg_ParseTuple(args, "OO", &src_obj, &dst_obj)) return NULL;
    if (get_buffer(src_obj, &src, 0) < 0) return NULL;
    if (get_buffer(dst_obj, &dst, 1) < 0) {
        PyBuffer_Release(&src);
        return NULL;
    }
    PyObject *result = NULL;
    int is32 = is_code(&src, "f");
    if (!is32 && !is_code(&src, "d")) {
        PyErr_SetString(PyExc_TypeError, "src must be a C-contiguous native float32 or float64 buffer");
    } else if ((uintptr_t)src.buf % (uintptr_t)src.itemsize != 0) {
        PyErr_SetString(PyExc_ValueError, "src must be aligned to its item size");
    } else if (!is_code(&dst, "B") || dst.len != src.len / src.itemsize) {
        PyErr_Format(PyExc_ValueError, "dst must be a C-contiguous uint8 buffer of %zd items",
                     src.len / src.itemsize);
    } else {
        Py_ssize_t n = dst.len;
        Py_BEGIN_ALLOW_THREADS
        if (is32) to_uint8_f32((const float *)src.buf, (uint8_t *)dst.buf, n);
        else to_uint8_f64((const double *)src.buf, (uint8_t *)dst.buf, n);
        Py_END_ALLOW_THREADS
        result = Py_None;
        Py_INCREF(result);
    }
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    return result;
}
#endif

/* -- tfrecord framing of equal-length payloads (anyboard.io.records) -------------------------- */

PyDoc_STRVAR(frame_rows_doc,
"frame_rows(rows, header, crc, out, starts=None)\n--\n\n"
"Write each row of ``rows`` (a C-contiguous uint8 buffer of n rows of L = len(rows) / n bytes,\n"
"n = len(starts), or the number of records ``out`` holds when ``starts`` is None) into ``out``\n"
"(a writable uint8 buffer) as one tfrecord: the 12 bytes of ``header`` (the length and its\n"
"masked CRC, the same for every row), the row, then the masked CRC-32C of the row as uint32 LE,\n"
"``crc(row)`` being the unmasked CRC (the crc32c package's function). Record i starts at byte\n"
"``starts[i]`` (an int64 buffer), or at i * (12 + L + 4). Every CRC comes from ``crc``.");

static PyObject *frame_rows(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *rows_obj, *header_obj, *crc, *out_obj, *starts_obj = Py_None;
    Py_buffer rows, header, out, starts;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "OOOO|O", &rows_obj, &header_obj, &crc, &out_obj, &starts_obj)) return NULL;
    if (!PyCallable_Check(crc)) {
        PyErr_SetString(PyExc_TypeError, "crc must be callable");
        return NULL;
    }
    if (get_buffer(rows_obj, &rows, 0) < 0) return NULL;
    if (PyObject_GetBuffer(header_obj, &header, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&rows);
        return NULL;
    }
    if (get_buffer(out_obj, &out, 1) < 0) {
        PyBuffer_Release(&rows);
        PyBuffer_Release(&header);
        return NULL;
    }
    int have_starts = starts_obj != Py_None;
    if (have_starts && get_buffer(starts_obj, &starts, 0) < 0) {
        PyBuffer_Release(&rows);
        PyBuffer_Release(&header);
        PyBuffer_Release(&out);
        return NULL;
    }
    PyObject *result = NULL, *scratch = NULL;
    if (!is_code(&rows, "Bb") || !is_code(&out, "Bb")) {
        PyErr_SetString(PyExc_TypeError, "rows and out must be C-contiguous uint8 buffers");
        goto done;
    }
    if (header.len != 12) {
        PyErr_SetString(PyExc_ValueError, "header must be 12 bytes");
        goto done;
    }
    if (have_starts && (!is_code(&starts, "ql") || starts.itemsize != 8 || (uintptr_t)starts.buf % 8 != 0)) {
        PyErr_SetString(PyExc_TypeError, "starts must be a C-contiguous, aligned int64 buffer");
        goto done;
    }
    Py_ssize_t length, width;
    if (have_starts) {
        n = starts.len / 8;
        if (n == 0) {
            if (rows.len != 0) {
                PyErr_SetString(PyExc_ValueError, "rows hold bytes but starts is empty");
                goto done;
            }
            result = Py_None;
            Py_INCREF(result);
            goto done;
        }
        if (rows.len % n != 0) {
            PyErr_SetString(PyExc_ValueError, "len(rows) must be a multiple of len(starts)");
            goto done;
        }
        length = rows.len / n;
        width = length + 16;
        const int64_t *at = (const int64_t *)starts.buf;
        for (Py_ssize_t i = 0; i < n; i++) {
            if (at[i] < 0 || at[i] > (int64_t)(out.len - width)) {
                PyErr_Format(PyExc_ValueError, "record %zd would not fit in out (start %lld)", i, (long long)at[i]);
                goto done;
            }
        }
    } else {
        /* n records of width L + 16 fill out exactly: n * L == rows.len, n * (L + 16) == out.len */
        n = (out.len - rows.len) / 16;
        if (out.len < rows.len || (out.len - rows.len) % 16 != 0 || (n == 0 ? rows.len != 0 : rows.len % n != 0)) {
            PyErr_SetString(PyExc_ValueError, "out must hold len(rows) + 16 bytes per row");
            goto done;
        }
        if (n == 0) {
            result = Py_None;
            Py_INCREF(result);
            goto done;
        }
        length = rows.len / n;
        width = length + 16;
    }
    scratch = PyByteArray_FromStringAndSize(NULL, length); /* one row at a time: crc reads it */
    if (scratch == NULL) goto done;
    const char *row = (const char *)rows.buf;
    for (Py_ssize_t i = 0; i < n; i++, row += length) {
        char *o = (char *)out.buf + (have_starts ? (Py_ssize_t)((const int64_t *)starts.buf)[i] : i * width);
        if (PyByteArray_GET_SIZE(scratch) != length) { /* crc resized it */
            PyErr_SetString(PyExc_RuntimeError, "crc changed the size of its argument");
            goto done;
        }
        char *row_copy = PyByteArray_AS_STRING(scratch);
        memcpy(row_copy, row, (size_t)length);
        PyObject *value = PyObject_CallOneArg(crc, scratch);
        if (value == NULL) goto done;
        unsigned long c = PyLong_AsUnsignedLong(value);
        Py_DECREF(value);
        if (c == (unsigned long)-1 && PyErr_Occurred()) goto done;
        uint32_t crc32 = (uint32_t)c;
        uint32_t masked = ((crc32 >> 15) | (crc32 << 17)) + 0xA282EAD8u;
        unsigned char tail[4] = {(unsigned char)masked, (unsigned char)(masked >> 8),
                                 (unsigned char)(masked >> 16), (unsigned char)(masked >> 24)};
        memcpy(o, header.buf, 12);
        memcpy(o + 12, row, (size_t)length); /* the row crc was given (a copy: crc sees only the copy) */
        memcpy(o + 12 + length, tail, 4);
    }
    result = Py_None;
    Py_INCREF(result);
done:
    Py_XDECREF(scratch);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&header);
    PyBuffer_Release(&out);
    if (have_starts) PyBuffer_Release(&starts);
    return result;
}

/* -- queued scalars to columns (anyboard._methods.core) --------------------------------------- */

PyDoc_STRVAR(scalar_columns_doc,
"scalar_columns(items)\n--\n\n"
"Columns of a list of queued scalars ``(code, wall, step, tag, value)`` (wall and value floats,\n"
"step an int in int64, tag a str): returns ``(walls, steps, tags, values)``, walls and values\n"
"as float64 bytes, steps as int64 bytes (native order), tags a list. Raises TypeError (or\n"
"OverflowError) on an item of any other form.");

static PyObject *scalar_columns_locked(PyObject *items);

static PyObject *scalar_columns(PyObject *Py_UNUSED(module), PyObject *items) {
    if (!PyList_Check(items)) {
        PyErr_SetString(PyExc_TypeError, "items must be a list");
        return NULL;
    }
    PyObject *result;
#ifdef Py_BEGIN_CRITICAL_SECTION /* free-threaded builds: no other thread changes the list meanwhile */
    Py_BEGIN_CRITICAL_SECTION(items);
    result = scalar_columns_locked(items);
    Py_END_CRITICAL_SECTION();
#else
    result = scalar_columns_locked(items);
#endif
    return result;
}

/* The list's items are borrowed: the caller keeps the list unchanged (the GIL, or a critical section). */
static PyObject *scalar_columns_locked(PyObject *items) {
    Py_ssize_t n = PyList_GET_SIZE(items);
    PyObject *walls = PyBytes_FromStringAndSize(NULL, n * 8);
    PyObject *steps = PyBytes_FromStringAndSize(NULL, n * 8);
    PyObject *values = PyBytes_FromStringAndSize(NULL, n * 8);
    PyObject *tags = PyList_New(n);
    if (walls == NULL || steps == NULL || values == NULL || tags == NULL) goto fail;
    double *w = (double *)PyBytes_AS_STRING(walls), *v = (double *)PyBytes_AS_STRING(values);
    int64_t *s = (int64_t *)PyBytes_AS_STRING(steps);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 5 ||
            !PyFloat_CheckExact(PyTuple_GET_ITEM(item, 1)) || !PyLong_CheckExact(PyTuple_GET_ITEM(item, 2)) ||
            !PyUnicode_Check(PyTuple_GET_ITEM(item, 3)) || !PyFloat_CheckExact(PyTuple_GET_ITEM(item, 4))) {
            PyErr_Format(PyExc_TypeError, "item %zd is not (code, float, int, str, float)", i);
            goto fail;
        }
        long long step = PyLong_AsLongLong(PyTuple_GET_ITEM(item, 2));
        if (step == -1 && PyErr_Occurred()) goto fail;
        w[i] = PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(item, 1));
        s[i] = (int64_t)step;
        v[i] = PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(item, 4));
        PyObject *tag = PyTuple_GET_ITEM(item, 3);
        Py_INCREF(tag);
        PyList_SET_ITEM(tags, i, tag);
    }
    return Py_BuildValue("(NNNN)", walls, steps, tags, values);
fail:
    Py_XDECREF(walls);
    Py_XDECREF(steps);
    Py_XDECREF(values);
    Py_XDECREF(tags);
    return NULL;
}

/* -- a run of queued items of one code (anyboard.io.stream) ----------------------------------- */

PyDoc_STRVAR(take_run_doc,
"take_run(queue, code, limit)\n--\n\n"
"Pop from the left of ``queue`` (a collections.deque) the items that are 5-tuples whose first\n"
"element equals ``code``, stopping at the first other item, when ``queue`` is empty or after\n"
"``limit`` items; return them as a list, in queue order. Items after the run stay queued.\n"
"Only one thread may take items from the left of ``queue`` (others may append on the right).");

static PyObject *take_run(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *queue, *code;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "OOn", &queue, &code, &limit)) return NULL;
    PyObject *popleft = PyObject_GetAttrString(queue, "popleft");
    if (popleft == NULL) return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        Py_DECREF(popleft);
        return NULL;
    }
    while (PyList_GET_SIZE(out) < limit) {
        Py_ssize_t size = PyObject_Length(queue);
        if (size < 0) goto fail;
        if (size == 0) break;
        PyObject *head = PySequence_GetItem(queue, 0);
        if (head == NULL) goto fail;
        int same = 0;
        if (PyTuple_CheckExact(head) && PyTuple_GET_SIZE(head) == 5) {
            PyObject *first = PyTuple_GET_ITEM(head, 0); /* codes are ints: comparing them cannot fail */
            same = first == code || (PyLong_CheckExact(first) && PyLong_CheckExact(code) &&
                                     PyObject_RichCompareBool(first, code, Py_EQ) == 1);
        }
        Py_DECREF(head);
        if (!same) break;
        PyObject *item = PyObject_CallNoArgs(popleft); /* still the head: only this thread pops */
        if (item == NULL) goto fail;
        int appended = PyList_Append(out, item);
        Py_DECREF(item);
        if (appended < 0) goto fail;
    }
    Py_DECREF(popleft);
    return out;
fail: /* out of memory: the items taken go back to the front of the queue, in order */
    if (PyList_GET_SIZE(out) > 0 && PyList_Reverse(out) == 0) {
#if PY_VERSION_HEX >= 0x030C0000
        PyObject *raised = PyErr_GetRaisedException();
#else
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
#endif
        PyObject *done = PyObject_CallMethod(queue, "extendleft", "O", out);
        Py_XDECREF(done);
#if PY_VERSION_HEX >= 0x030C0000
        PyErr_SetRaisedException(raised);
#else
        PyErr_Restore(type, value, traceback);
#endif
    }
    Py_DECREF(popleft);
    Py_DECREF(out);
    return NULL;
}

PyDoc_STRVAR(split_passes_doc,
"split_passes()\n--\n\n"
"``(shared, alone, moves)``: this process's ``count_stats(..., threads=2)`` passes shared with the\n"
"worker thread; those made on the caller alone because shared ones had gained nothing (see the\n"
"back-off in _native.c) or because the caller may run on one CPU only; and the times the worker\n"
"moved off the caller's CPU. ``(0, 0, 0)`` where there is no worker.");

static PyObject *split_passes(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args)) {
    unsigned long long shared = 0, alone = 0, moves = 0;
#ifdef HAVE_WORKER
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&job_lock);
    shared = passes_shared;
    alone = passes_alone;
    moves = atomic_load(&worker_moves);
    pthread_mutex_unlock(&job_lock);
    Py_END_ALLOW_THREADS
#endif
    return Py_BuildValue("KKK", shared, alone, moves);
}

PyDoc_STRVAR(pin_worker_doc,
"_pin_worker(cpu)\n--\n\n"
"Tests only: the worker pins itself to ``cpu`` when it next wakes, before it checks whether it\n"
"runs on the caller's CPU, as if the scheduler had woken it there. ``False`` where the worker\n"
"cannot move (not Linux, no worker).");

static PyObject *pin_worker(PyObject *Py_UNUSED(module), PyObject *arg) {
    long cpu = PyLong_AsLong(arg);
    if (cpu == -1 && PyErr_Occurred()) return NULL;
    if (cpu < 0 || cpu > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "_pin_worker: expected a CPU number >= 0");
        return NULL;
    }
#if defined(HAVE_WORKER) && defined(__linux__)
    atomic_store(&pin_request, (int)cpu);
    Py_RETURN_TRUE;
#else
    Py_RETURN_FALSE;
#endif
}

static PyMethodDef module_methods[] = {
#ifdef HAVE_TO_UINT8
    {"float_to_uint8", float_to_uint8, METH_VARARGS, float_to_uint8_doc},
#endif
    {"frame_rows", frame_rows, METH_VARARGS, frame_rows_doc},
    {"scalar_columns", scalar_columns, METH_O, scalar_columns_doc},
    {"take_run", take_run, METH_VARARGS, take_run_doc},
    {"split_passes", split_passes, METH_NOARGS, split_passes_doc},
    {"_pin_worker", pin_worker, METH_O, pin_worker_doc},
    {NULL},
};

/* Multi-phase initialization (PEP 489): the module object is created by the import system, then
 * module_exec adds the Layout type (a heap type per module object, so subinterpreters and repeated
 * imports share nothing). */
static int module_exec(PyObject *m) {
#ifdef HAVE_AVX2_STATS
    detect_cpu();
#endif
    PyObject *layout = PyType_FromSpec(&Layout_spec);
    if (layout == NULL) return -1;
    int added = PyModule_AddObjectRef(m, "Layout", layout);
    Py_DECREF(layout);
    return added;
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_NOT_USED}, /* free-threaded builds keep the GIL off when this is imported */
#endif
    {0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "anyboard._native",
    .m_doc = "anyboard's compiled kernels: histogram binning, float pixels to uint8, record framing.",
    .m_size = 0,
    .m_methods = module_methods,
    .m_slots = module_slots,
};

PyMODINIT_FUNC PyInit__native(void) {
    return PyModuleDef_Init(&module);
}
