/* test_far_threshold.c - identification thresholds from a false-accept rate (section 5):
   fnet_impostor_table_build, fnet_impostor_rate, fnet_far_threshold, fnet_gallery_far_threshold,
   the tail graft and fnet_identify's default, against independent computations:
   - a sample whose distribution is known exactly, with an exponential lower tail as LFW's
     (F(d) = exp(20 (d - 1)), d_i = 1 + ln(i / n) / 20): the threshold for (FAR, N) must be
     1 + ln(p) / 20 with p = 1 - (1 - FAR)^(1/N) computed here in long double with pow (the
     table interpolates log F linearly in d, which is exact for this shape);
   - a simulation: strangers as N independent draws from the same sample; the share whose
     nearest draw is at or under the threshold must be FAR (binomial tolerance);
   - the shipped ResNet table: thresholds fall as the gallery grows, the K = 40 / FAR 1%
     value measured by tools/eval/eval_identify.c, and fnet_identify's default uses it;
   - damaged tables (NaN, order, sizes, rates above 0, unterminated id) are refused;
   - cohort normalisation: fnet_cohort_distance against a brute force in double (every
     distance sorted), fnet_identify_cohort's scores, ranking, acceptance and default threshold
     against the formula s = d / ((c(p) + c(e)) / 2) computed here, and its refusals. */
#define FNET_IMPLEMENTATION
#include "../facenet.h"
#include "fnet_test.h"

#include <math.h>

static unsigned long long rng = 99;
static unsigned long long next_u64(void) { /* SplitMix64, written again here */
    unsigned long long z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void known_distribution(void) {
    enum { N_SAMPLE = 200000 };
    static float d[N_SAMPLE], keep[N_SAMPLE];
    static const double fars[3] = {0.001, 0.01, 0.1};
    static const double sizes[4] = {1, 10, 100, 1000};
    fnet_impostor_table t;
    int i, a, b, bad = 0;
    double worst = 0;
    memset(&t, 0, sizeof t);
    for (i = 0; i < N_SAMPLE; i++) /* descending: unsorted on purpose */
        d[i] = (float)(1.0 + log((double)(N_SAMPLE - i) / N_SAMPLE) / 20.0);
    memcpy(keep, d, sizeof d);
    CHECK(fnet_impostor_table_build("test-net", d, N_SAMPLE, NULL, &t) == FNET_OK && t.n >= 20, "build (%d points)", t.n);
    CHECK(d[0] == keep[N_SAMPLE - 1] && d[N_SAMPLE - 1] == 1.0f, "the distances are sorted in place");
    (void)keep;
    CHECK(t.pairs == N_SAMPLE && t.log10_rate[t.n - 1] == 0.0f && t.distance[t.n - 1] == 1.0f, "top point: rate 1 at the largest");
    for (a = 0; a < 3; a++)
        for (b = 0; b < 4; b++) {
            long double p = 1.0L - powl(1.0L - (long double)fars[a], 1.0L / (long double)sizes[b]);
            float thr = 0;
            double rel;
            if (fnet_far_threshold(&t, fars[a], sizes[b], &thr) != FNET_OK) { bad++; continue; }
            rel = fabs((double)thr - (1.0 + log((double)p) / 20.0)); /* absolute, in distance */
            if (rel > worst) worst = rel;
            if (rel > 2e-4) bad++;
            /* the rate at the threshold is p again (the inverse) */
            if (fabs(fnet_impostor_rate(&t, thr) - (double)p) / (double)p > 0.01) bad++;
        }
    CHECK(bad == 0, "thresholds = the exact quantile of 1-(1-FAR)^(1/N) (worst error %.6f)", worst);
    printf("F(d) = exp(20 (d - 1)): worst threshold error %.6f\n", worst);

    /* simulation: 100,000 strangers each compared with N = 20 draws of the sample */
    {
        const int trials = 100000, n = 20;
        const double far = 0.05;
        float thr = 0;
        int t2, k, acc = 0;
        double sd;
        fnet_far_threshold(&t, far, n, &thr);
        for (t2 = 0; t2 < trials; t2++) {
            float best = 2.0f;
            for (k = 0; k < n; k++) {
                float x = d[next_u64() % N_SAMPLE];
                if (x < best) best = x;
            }
            acc += best <= thr;
        }
        sd = sqrt(far * (1 - far) / trials);
        printf("simulation: FAR %.4f for a target of %.4f (threshold %.5f, binomial sd %.4f)\n", (double)acc / trials, far,
               thr, sd);
        CHECK(fabs((double)acc / trials - far) < 4 * sd, "simulated FAR %.4f vs %.4f", (double)acc / trials, far);
    }
    /* below the first point (rate 1/n) the tail continues with its slope (exact here); a
       threshold that would fall to 0 or below stays > 0 */
    {
        float t1 = 0, t2 = 0, t3 = 0;
        double p = -expm1(log1p(-0.01) / 1e4);
        CHECK(fnet_far_threshold(&t, 0.01, 1e4, &t1) == FNET_OK && t1 < t.distance[0] &&
                  fabs(t1 - (1.0 + log(p) / 20.0)) < 2e-4,
              "below the table: %.5f vs %.5f", t1, 1.0 + log(p) / 20.0);
        CHECK(fnet_far_threshold(&t, 0.01, 1e12, &t3) == FNET_OK && t3 == 1e-6f, "clamped above 0: %g", t3);
        CHECK(fnet_far_threshold(&t, 0.999, 1, &t2) == FNET_OK && t2 <= 1.0f && t2 > 0.99f, "near the top: %g", t2);
    }
    CHECK(fnet_far_threshold(&t, 0.0, 10, NULL) == FNET_ERR_INVALID_ARGUMENT, "NULL out");
    {
        float thr = 1;
        CHECK(fnet_far_threshold(&t, 0.0, 10, &thr) == FNET_ERR_INVALID_ARGUMENT && thr == 0, "FAR 0");
        CHECK(fnet_far_threshold(&t, 1.0, 10, &thr) == FNET_ERR_INVALID_ARGUMENT, "FAR 1");
        CHECK(fnet_far_threshold(&t, NAN, 10, &thr) == FNET_ERR_INVALID_ARGUMENT, "FAR NaN");
        CHECK(fnet_far_threshold(&t, 0.01, 0.5, &thr) == FNET_ERR_INVALID_ARGUMENT, "N < 1");
    }
    d[5] = NAN;
    CHECK(fnet_impostor_table_build("test-net", d, N_SAMPLE, NULL, &t) == FNET_ERR_NOT_FINITE, "NaN distance");
    d[5] = -1.0f;
    CHECK(fnet_impostor_table_build("test-net", d, N_SAMPLE, NULL, &t) == FNET_ERR_INVALID_ARGUMENT, "negative distance");
    CHECK(fnet_impostor_table_build("test-net", d, 1, NULL, &t) == FNET_ERR_INVALID_ARGUMENT, "one distance");
    CHECK(fnet_impostor_table_build("", keep, 10, NULL, &t) == FNET_ERR_INVALID_ARGUMENT, "empty network id");
}

static void shipped_and_graft(void) {
    fnet_impostor_table s, small, other;
    float thr[5], d[1000];
    static const double sizes[5] = {10, 40, 100, 450, 1000};
    int i, dec = 1;
    if (fnet_network_impostor_table("resnet34-dlib", &s) != FNET_OK) {
        CHECK(0, "no shipped resnet table");
        return;
    }
    CHECK(fnet_impostor_table_check(&s) == FNET_OK && s.pairs > 1e6, "shipped table valid (%.0f pairs)", s.pairs);
    CHECK(fnet_network_impostor_table("mystery", &other) == FNET_ERR_NOT_FOUND, "no table for an unknown network");
    CHECK(fnet_network_impostor_table("resnet34-dlib+trained", &other) == FNET_ERR_NOT_FOUND,
          "a network trained from the ResNet does not inherit its table");
    for (i = 0; i < 5; i++) {
        fnet_far_threshold(&s, 0.01, sizes[i], &thr[i]);
        if (i && !(thr[i] < thr[i - 1])) dec = 0;
    }
    CHECK(dec, "thresholds fall as the gallery grows: %.4f %.4f %.4f %.4f %.4f", thr[0], thr[1], thr[2], thr[3], thr[4]);
    /* tools/eval/eval_identify.c: K=40 at FAR 1% -> 0.4975 (between the table's points
       0.4872 @ -3.7481 and 0.5045 @ -3.4997: log10 p = -3.6009) */
    CHECK(fabs(thr[1] - 0.4975) < 5e-4, "K=40, FAR 1%%: %.4f", thr[1]);
    {   /* a gallery uses its embedding count, and fnet_identify's default threshold is that */
        fnet_gallery *g = NULL;
        float e[128], gt = 0;
        fnet_match m[1];
        int n = 0, k;
        fnet_gallery_create("resnet34-dlib", 128, &g);
        for (i = 0; i < 40; i++) {
            char name[16];
            for (k = 0; k < 128; k++) e[k] = k == i ? 1.0f : 0.0f;
            snprintf(name, sizeof name, "p%d", i);
            fnet_gallery_enroll(g, name, e, 1);
        }
        CHECK(fnet_gallery_far_threshold(g, NULL, 0.01, &gt) == FNET_OK && gt == thr[1], "gallery of 40: %.4f", gt);
        /* a probe at distance just under / over the threshold from person 3 */
        for (k = 0; k < 128; k++) e[k] = k == 3 ? 1.0f : 0.0f;
        e[100] = gt * 0.999f;
        CHECK(fnet_identify(g, e, 128, 0.0f, m, 1, &n) == FNET_OK && n == 1 && m[0].person == 3 && m[0].accepted,
              "default: accepted just under %.4f", gt);
        e[100] = gt * 1.001f;
        CHECK(fnet_identify(g, e, 128, 0.0f, m, 1, &n) == FNET_OK && !m[0].accepted, "default: rejected just over");
        memcpy(&other, &s, sizeof other);
        strcpy(other.network, "nn4.small2.v1");
        CHECK(fnet_gallery_far_threshold(g, &other, 0.01, &gt) == FNET_ERR_MISMATCH, "a table of another network");
        {   /* jittered galleries: their own table, a little stricter in distance */
            fnet_impostor_table j;
            float tj = 0, gj = 0;
            CHECK(fnet_network_impostor_table_jitter("resnet34-dlib", 0, &j) == FNET_OK && j.pairs == s.pairs,
                  "jitter 0 is the plain table");
            CHECK(fnet_network_impostor_table_jitter("resnet34-dlib", FNET_ENROLL_JITTER, &j) == FNET_OK &&
                  fnet_impostor_table_check(&j) == FNET_OK, "table for jittered galleries");
            CHECK(fnet_network_impostor_table_jitter("resnet34-dlib", 30, &other) == FNET_ERR_NOT_FOUND &&
                  fnet_network_impostor_table_jitter("nn4.small2.v1", FNET_ENROLL_JITTER, &other) == FNET_ERR_NOT_FOUND,
                  "no table for other jitters or networks");
            fnet_far_threshold(&j, 0.01, 40, &tj);
            fnet_gallery_set_jitter(g, FNET_ENROLL_JITTER);
            CHECK(fnet_gallery_far_threshold(g, NULL, 0.01, &gj) == FNET_OK && gj == tj && tj < thr[1] && tj > thr[1] - 0.02f,
                  "a jittered gallery of 40: %.4f (plain %.4f)", gj, thr[1]);
            fnet_gallery_set_jitter(g, 7);
            CHECK(fnet_gallery_far_threshold(g, NULL, 0.01, &gj) == FNET_ERR_NOT_FOUND, "7 jitters: no shipped table");
            fnet_gallery_set_jitter(g, 0);
        }
        fnet_gallery_free(g);
    }
    /* graft: 1,000 distances 0.7 + U(0, 0.6): below 100/1000 the shipped tail, shifted to meet */
    for (i = 0; i < 1000; i++) d[i] = 0.7f + 0.6f * (float)(next_u64() % 100000) / 100000.0f;
    CHECK(fnet_impostor_table_build("resnet34-dlib", d, 1000, &s, &small) == FNET_OK, "build with a tail");
    {
        float a = 0, b = 0, c = 0, u = 0;
        double y0 = -1.0, dm, shift;
        /* the measured table at 100/1000 = 0.1: d[99] (sorted) */
        dm = d[99];
        fnet_far_threshold(&s, pow(10, y0), 1, &u); /* shipped distance at 0.1 */
        shift = dm - u;
        fnet_far_threshold(&small, 0.01, 1000, &a);
        fnet_far_threshold(&s, 0.01, 1000, &b);
        CHECK(fabs(a - (b + shift)) < 2e-3, "grafted tail: %.4f = shipped %.4f + shift %.4f", a, b, shift);
        /* a measured point: rate 563/1000 (the quarter decade 10^-0.25 rounded up to a pair) */
        CHECK(fnet_far_threshold(&small, 0.563, 1, &c) == FNET_OK && fabs(c - d[562]) < 1e-4,
              "above 100/n the measured table: %.4f vs %.4f", c, d[562]);
        {   /* 32 pairs (fewer than 200): the graft at the median of the folder's own table */
            float e[32], m = 0, sm = 0;
            fnet_impostor_table tiny;
            for (i = 0; i < 32; i++) e[i] = 0.75f + 0.01f * (float)i;
            fnet_impostor_table_build("resnet34-dlib", e, 32, NULL, &tiny);
            fnet_far_threshold(&tiny, 0.5, 1, &m);
            CHECK(fnet_impostor_table_build("resnet34-dlib", e, 32, &s, &tiny) == FNET_OK, "32 pairs with a tail");
            fnet_far_threshold(&s, 0.5, 1, &sm);
            fnet_far_threshold(&tiny, 0.01, 1000, &a);
            CHECK(fabs(m - 0.905f) < 0.005 && fabs(a - (b + (m - sm))) < 1e-3,
                  "tiny folder: median %.4f, K=1000 %.4f = shipped %.4f + %.4f", m, a, b, m - sm);
        }
        CHECK(small.pairs == 1000 && small.log10_rate[0] < -5, "pairs kept, tail reaches %.2f", small.log10_rate[0]);
    }
    CHECK(fnet_impostor_table_build("nn4.small2.v1", d, 1000, &s, &small) == FNET_ERR_MISMATCH, "tail of another network");
}

static void damaged(void) {
    fnet_impostor_table s, t;
    float thr;
    fnet_network_impostor_table("resnet34-dlib", &s);
    t = s; t.distance[3] = NAN;
    CHECK(fnet_impostor_table_check(&t) == FNET_ERR_CORRUPT, "NaN distance");
    t = s; t.log10_rate[3] = t.log10_rate[2];
    CHECK(fnet_impostor_table_check(&t) == FNET_ERR_CORRUPT, "equal rates");
    t = s; t.distance[3] = t.distance[2] - 0.01f;
    CHECK(fnet_impostor_table_check(&t) == FNET_ERR_CORRUPT, "falling distances");
    t = s; t.log10_rate[t.n - 1] = 0.5f;
    CHECK(fnet_impostor_table_check(&t) == FNET_ERR_CORRUPT, "rate above 1");
    t = s; t.n = 1;
    CHECK(fnet_impostor_table_check(&t) == FNET_ERR_CORRUPT, "one point");
    t = s; t.n = FNET_IMPOSTOR_TABLE_MAX + 1;
    CHECK(fnet_impostor_table_check(&t) == FNET_ERR_CORRUPT, "too many points");
    t = s; t.n = -5;
    CHECK(fnet_impostor_table_check(&t) == FNET_ERR_CORRUPT, "negative count");
    t = s; t.pairs = NAN;
    CHECK(fnet_impostor_table_check(&t) == FNET_ERR_CORRUPT, "NaN pairs");
    t = s; memset(t.network, 'x', sizeof t.network);
    CHECK(fnet_impostor_table_check(&t) == FNET_ERR_CORRUPT, "unterminated network id");
    t = s; t.distance[0] = -0.1f;
    CHECK(fnet_impostor_table_check(&t) == FNET_ERR_CORRUPT, "negative distance");
    CHECK(fnet_far_threshold(&t, 0.01, 10, &thr) == FNET_ERR_CORRUPT, "threshold from a damaged table refused");
    CHECK(fnet_impostor_rate(&t, 0.5f) == 0.0, "rate of a damaged table: 0");
    CHECK(fnet_impostor_table_check(NULL) == FNET_ERR_INVALID_ARGUMENT, "NULL");
}

static int dcmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* c(x) the slow way: every cohort distance in double, sorted, the 10 smallest averaged. */
static double brute_c(const float *cohort, int n, int dim, const float *x) {
    static double d[4096];
    double s = 0;
    int i, k;
    for (i = 0; i < n; i++) {
        double q = 0;
        for (k = 0; k < dim; k++) q += ((double)x[k] - cohort[i * dim + k]) * ((double)x[k] - cohort[i * dim + k]);
        d[i] = sqrt(q);
    }
    qsort(d, (size_t)n, sizeof d[0], dcmp);
    for (i = 0; i < FNET_COHORT_K; i++) s += d[i];
    return s / FNET_COHORT_K;
}

static float gauss(void) { /* a sum of uniforms: close enough to normal for random embeddings */
    float s = 0;
    int i;
    for (i = 0; i < 12; i++) s += (float)(next_u64() % 1000000) / 1000000.0f;
    return (s - 6.0f) * 0.1f;
}

static void cohort(void) {
    enum { DIM = 32, NC = 300, PEOPLE = 12 };
    static float co[NC * DIM], ge[PEOPLE * 2 * DIM], probe[DIM], gc[PEOPLE * 2];
    fnet_gallery *cg = NULL, *g = NULL, *small = NULL, *other = NULL;
    fnet_impostor_table ct;
    fnet_match m[PEOPLE], m2[PEOPLE];
    double worst_c = 0, worst_s = 0;
    float c, thr = 0;
    int i, k, n = 0, ok_rank = 1, ok_acc = 1, photos;
    fnet_gallery_create("resnet34-dlib", DIM, &cg);
    fnet_gallery_create("resnet34-dlib", DIM, &g);
    for (i = 0; i < NC * DIM; i++) co[i] = gauss();
    for (i = 0; i < NC; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        fnet_gallery_enroll(cg, name, co + i * DIM, 1);
    }
    /* 12 people, the even ones with two photos */
    for (i = 0; i < PEOPLE * 2 * DIM; i++) ge[i] = gauss();
    for (i = 0, photos = 0; i < PEOPLE; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        fnet_gallery_enroll(g, name, ge + photos * DIM, i % 2 ? 1 : 2);
        photos += i % 2 ? 1 : 2;
    }
    for (k = 0; k < DIM; k++) probe[k] = ge[3 * DIM + k] + 0.3f * gauss(); /* near p2's second photo */
    CHECK(fnet_cohort_distances(cg, g, gc) == FNET_OK, "cohort distances of the gallery");
    for (i = 0; i < photos; i++) {
        double want = brute_c(co, NC, DIM, ge + i * DIM);
        if (fabs(gc[i] - want) > worst_c) worst_c = fabs(gc[i] - want);
    }
    CHECK(fnet_cohort_distance(cg, probe, DIM, &c) == FNET_OK, "cohort distance of the probe");
    {
        double want = brute_c(co, NC, DIM, probe);
        if (fabs(c - want) > worst_c) worst_c = fabs(c - want);
    }
    CHECK(worst_c < 2e-7, "c(x) against the brute force in double: max difference %.2g", worst_c);
    /* scores: per person the best photo's s, ascending; accepted iff s <= threshold */
    CHECK(fnet_identify_cohort(g, cg, gc, probe, DIM, 1.0f, m, PEOPLE, &n) == FNET_OK && n == PEOPLE, "identify_cohort");
    for (i = 0; i < n; i++) {
        int first = 0, cnt = 0, p = m[i].person, q;
        double best = 1e30, best_d = 0;
        const float *e = NULL;
        fnet_gallery_person(g, p, NULL, &e, &cnt);
        for (q = 0, first = 0; q < p; q++) first += q % 2 ? 1 : 2; /* p's first photo in gc */
        for (q = 0; q < cnt; q++) {
            double d = 0, sc;
            for (k = 0; k < DIM; k++) d += ((double)probe[k] - e[q * DIM + k]) * ((double)probe[k] - e[q * DIM + k]);
            d = sqrt(d);
            sc = d / (0.5 * ((double)c + gc[first + q]));
            if (sc < best) { best = sc; best_d = d; }
        }
        if (fabs(m[i].score - best) > worst_s) worst_s = fabs(m[i].score - best);
        if (fabs(m[i].distance - best_d) > worst_s) worst_s = fabs(m[i].distance - best_d);
        if (i && m[i].score < m[i - 1].score) ok_rank = 0;
        if (m[i].accepted != (m[i].score <= 1.0f)) ok_acc = 0;
    }
    printf("cohort: c(x) within %.2g of the double brute force, scores within %.2g of the formula\n", worst_c, worst_s);
    CHECK(worst_s < 4e-7, "scores and distances against the formula: max difference %.2g", worst_s);
    CHECK(ok_rank && ok_acc && m[0].person == 2, "ranked by score, accepted iff <= threshold, p2 first (%d)", m[0].person);
    /* the default threshold: the shipped cohort table at FNET_DEFAULT_FAR for 18 embeddings */
    CHECK(fnet_network_cohort_table("resnet34-dlib", &ct) == FNET_OK && fnet_impostor_table_check(&ct) == FNET_OK,
          "shipped cohort table valid");
    fnet_far_threshold(&ct, FNET_DEFAULT_FAR, photos, &thr);
    CHECK(fnet_identify_cohort(g, cg, gc, probe, DIM, 0.0f, m2, PEOPLE, &n) == FNET_OK && n == PEOPLE, "default threshold");
    for (i = 0; i < n; i++)
        if (m2[i].accepted != (m2[i].score <= thr)) ok_acc = 0;
    CHECK(ok_acc && thr > 0.8f && thr < 1.1f, "default: the cohort table's %.4f for %d embeddings", thr, photos);
    CHECK(fnet_network_cohort_table("nn4.small2.v1", &ct) == FNET_ERR_NOT_FOUND, "no cohort table for nn4");
    {   /* a gallery of 10-jitter embeddings takes the cohort table measured for it */
        fnet_impostor_table cj;
        float thr_j = 0;
        int acc_j = 1;
        CHECK(fnet_network_cohort_table_jitter("resnet34-dlib", FNET_ENROLL_JITTER, &cj) == FNET_OK &&
              fnet_impostor_table_check(&cj) == FNET_OK, "shipped cohort table for jittered galleries");
        CHECK(fnet_network_cohort_table_jitter("resnet34-dlib", 3, &cj) == FNET_ERR_NOT_FOUND, "none for 3 jitters");
        fnet_network_cohort_table_jitter("resnet34-dlib", FNET_ENROLL_JITTER, &cj);
        fnet_far_threshold(&cj, FNET_DEFAULT_FAR, photos, &thr_j);
        fnet_gallery_set_jitter(g, FNET_ENROLL_JITTER);
        CHECK(fnet_identify_cohort(g, cg, gc, probe, DIM, 0.0f, m2, PEOPLE, &n) == FNET_OK && n == PEOPLE, "jittered default");
        for (i = 0; i < n; i++)
            if (m2[i].accepted != (m2[i].score <= thr_j)) acc_j = 0;
        CHECK(acc_j && thr_j < thr && thr_j > thr - 0.02f, "jittered gallery: its table's %.4f (plain %.4f)", thr_j, thr);
        fnet_gallery_set_jitter(g, 0);
    }
    /* refusals */
    fnet_gallery_create("resnet34-dlib", DIM, &small);
    fnet_gallery_enroll(small, "a", co, 9);
    CHECK(fnet_cohort_distance(small, probe, DIM, &c) == FNET_ERR_INVALID_ARGUMENT, "a cohort under 10 embeddings");
    fnet_gallery_create("nn4.small2.v1", DIM, &other);
    fnet_gallery_enroll(other, "a", co, 20);
    CHECK(fnet_identify_cohort(g, other, gc, probe, DIM, 0.0f, m, 3, &n) == FNET_ERR_MISMATCH, "cohort of another network");
    CHECK(fnet_cohort_distances(other, g, gc) == FNET_ERR_MISMATCH, "cohort distances across networks");
    CHECK(fnet_cohort_distance(cg, probe, DIM + 1, &c) == FNET_ERR_MISMATCH, "wrong dim");
    CHECK(fnet_identify_cohort(g, cg, NULL, probe, DIM, 0.0f, m, 3, &n) == FNET_ERR_INVALID_ARGUMENT, "no gallery c");
    gc[5] = NAN;
    CHECK(fnet_identify_cohort(g, cg, gc, probe, DIM, 0.0f, m, 3, &n) == FNET_ERR_INVALID_ARGUMENT, "NaN gallery c");
    gc[5] = 0.0f;
    CHECK(fnet_identify_cohort(g, cg, gc, probe, DIM, 0.0f, m, 3, &n) == FNET_ERR_INVALID_ARGUMENT, "zero gallery c");
    fnet_cohort_distances(cg, g, gc);
    probe[3] = NAN;
    CHECK(fnet_identify_cohort(g, cg, gc, probe, DIM, 0.0f, m, 3, &n) == FNET_ERR_NOT_FINITE && n == 0, "NaN probe");
    CHECK(fnet_cohort_distance(cg, probe, DIM, &c) == FNET_ERR_NOT_FINITE, "NaN probe's c");
    fnet_gallery_free(small);
    fnet_gallery_free(other);
    fnet_gallery_free(cg);
    fnet_gallery_free(g);
}

int main(void) {
    known_distribution();
    cohort();
    shipped_and_graft();
    damaged();
    return test_finish();
}
