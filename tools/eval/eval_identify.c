/* eval_identify - open-set identification at a target false-accept rate (issue 18 item 5):
   the impostor table of a network, and how identification at FNET_DEFAULT_FAR behaves on LFW
   people that table never saw, for galleries of 10 to 1,000 people.

   build/eval_identify [--net resnet|nn4] [--net-blob FILE] [--weights DIR] [--cache DIR]
                       [--far F] [--trials T] [--seed S] [--table] [--write-cohort FILE]
                       [--tune SPLITS [--tune-strangers N] [--tune-unit]]
                       [--gallery-jitter N | --gallery-flip]
   (make impostor-table: --table; make cohort: --table --write-cohort; make eval-identify: the
   whole evaluation; --tune: section 0 only, on lfw-train people alone)

   0. --tune SPLITS: the cohort rule's design (score form, K) compared on lfw-train people
      outside lfw-dev only (see tune() below): what fnet_identify_cohort's ratio with
      FNET_COHORT_K = 10 was checked against before lfw-dev was evaluated.

   --gallery-jitter N / --gallery-flip: galleries enrol augmented embeddings (the mean of N
      jittered copies of the face, examples/jitter.h as fnet enroll --jitter does; or of the
      face and its mirror image) while probes, strangers and the cohort stay plain. Every
      table below is then measured for that mixed case: every ORDERED pair of photos of
      different people, the first augmented (gallery side, its c over the plain cohort), the
      second plain; --tune compares the shipped rule on such galleries (same splits and
      galleries as without: pair the runs by the per-split line). Sections 2 and 3 then use
      the tables facenet.h ships for such galleries (fnet_network_*_table_jitter; else the
      measured ones); 4 and 5 (plain galleries) are left out. Measured (ResNet, FAR 1%):
        --tune 10, 40 people, cohort ratio K=10: right+accepted / strangers accepted
          plain 94.5% / 0.77%, face+mirror 94.9% / 0.70%, jitter 10 95.2% / 0.67%,
          jitter 30 94.9% / 0.69% (jitter 10 - plain: +0.76 points, split sd 0.57, 8/10
          splits better; 20 people 96.8% vs 94.8%, 10 people 97.5% vs 96.4%)
        lfw-dev, --gallery-jitter 10 (make eval-identify), cohort scores, K = 10 20 40 100
          200 450 1000: accepted as the right person 96.6 94.4 91.4 87.6 84.6 80.1 75.4%,
          strangers accepted 1.05 1.09 1.08 1.04 1.01 0.84 0.94%; plain distances 92.3 87.0
          80.8 71.4 64.5 55.9 47.5%, strangers 1.34 1.14 0.71 0.72 0.76 0.65 0.94%; three
          photos each at K=40: 97.1% (cohort), 87.1% (plain distances).

   1. Impostor table: every photo of the LFW people in ../shared/data/lfw-train/ who are NOT in
      ../shared/data/lfw-dev/ (lfw-train holds more photos of 171 dev people: they are left
      out, so the dev people below are strangers to the table; the overlap is checked again by
      name), one face each (the one nearest the image centre; photos without a detection are
      left out, as fnet never embeds a non-face), every pair of photos of different people:
      fnet_impostor_table_build. --table prints it as the C initialiser facenet.h ships
      (section 5) and stops.
   1b. The cohort (fnet_identify_cohort): the same photos as a gallery (--write-cohort FILE
      saves it: make cohort), and the impostor table of cohort-normalised scores
      s = d / ((c_i + c_j) / 2) of the same pairs, each pair's c values taken over the cohort
      without both people's photos (a probe and a gallery are never cohort photos either);
      --table prints it too (facenet.h's cohort table).
   2. LFW dev people (1,241; 450 with >= 2 photos): for each gallery size K, `trials` random
      galleries: K people with >= 2 photos (above 450: all of them plus people with one photo),
      one random photo of each enrolled; known probes = the other photos of the enrolled people
      (rank-1: nearest is right; DIR, detection and identification rate: nearest is right AND
      accepted); strangers = every photo of the people not enrolled (FAR: accepted as anyone).
      The threshold is fnet_gallery_far_threshold(gallery, shipped table, far). The table is
      the one facenet.h ships; the one measured in 1 is printed next to it (they must agree).
      Sections 2 and 3 run twice on the same galleries: plain distances (fnet_identify,
      the shipped table) and cohort-normalised scores (fnet_identify_cohort, the cohort of 1b,
      the shipped cohort table).
   3. Several photos per person: people with >= 4 photos, galleries of 1 or 3 photos per
      person, the same probes (the photos after the third), thresholds from N = embeddings.
   5. What fnet calibrate does: the table of a small labelled folder (20 dev people with >= 3
      photos; its tail below 100/pairs from the shipped table), used on galleries of 40 and 100
      of the other dev people (the folder's people are strangers there too, as in any use).
   4. The fixed FNET_THRESHOLD_IDENTIFY threshold at K = 40 (what fnet identify used before),
      and fixed thresholds 0.45..0.65 there (the trade-off any distance rule has).
   Strangers accepted are compared with the model's 1 - (1 - F(t))^N ("model"). */
#define _POSIX_C_SOURCE 200809L
#define FNET_IMPLEMENTATION
#include "facenet.h"
#include "examples/embcache.h"

#include <math.h>

static unsigned long long rng_state = 1;
static unsigned long long rnd(void) { /* SplitMix64 */
    unsigned long long z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static void shuffle(int *a, int n) {
    int i;
    for (i = n - 1; i > 0; i--) {
        int j = (int)(rnd() % (unsigned long long)(i + 1)), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* A labelled folder's embeddings: photos without a detection dropped. first[p], cnt[p]: the
   photos of person p in x (grouped by person, as ec_labelled_dir lists them). */
typedef struct set {
    ec_labelled lab;
    float *x;
    int n, *label, *first, *cnt, dropped;
} set;

static int load_set(embcache *ec, ec_labelled *lab, set *s) {
    float *x;
    int *ok, i, n = 0;
    ec_result *r = (ec_result *)malloc(sizeof *r);
    memset(s, 0, sizeof *s);
    s->lab = *lab;
    if (!r || !ec_embed_all(ec, lab, 1, &x, &ok, NULL)) return 0;
    s->label = (int *)malloc((size_t)lab->n * sizeof(int));
    s->first = (int *)calloc((size_t)lab->n_people, sizeof(int));
    s->cnt = (int *)calloc((size_t)lab->n_people, sizeof(int));
    for (i = 0; i < lab->n; i++) {
        /* ec_embed_all keeps the central face; a centre-box fallback is not a face */
        int f;
        if (!ok[i] || !ec_image(ec, lab->paths[i], r) || (f = ec_central(r)) < 0 || r->face[f].fallback) {
            s->dropped++;
            continue;
        }
        memmove(x + (size_t)n * EC_DIM, x + (size_t)i * EC_DIM, EC_DIM * sizeof(float));
        s->label[n] = lab->label[i];
        if (!s->cnt[lab->label[i]]++) s->first[lab->label[i]] = n;
        n++;
    }
    s->x = x;
    s->n = n;
    free(ok);
    free(r);
    return 1;
}

/* The set of the same photos as `plain` with augmented embeddings (ec->jitter, ec->flip for
   this load only; their own cache entries): the same faces, so the same photos kept. */
static int load_augmented(embcache *ec, ec_labelled *lab, const set *plain, int jitter, int flip, set *out) {
    int ok, i;
    ec->jitter = jitter;
    ec->flip = jitter > 0 ? 0 : flip;
    ok = load_set(ec, lab, out);
    ec->jitter = ec->flip = 0;
    if (!ok) return 0;
    if (out->n != plain->n) { fprintf(stderr, "eval_identify: augmented set: %d photos, plain %d\n", out->n, plain->n); return 0; }
    for (i = 0; i < out->n; i++)
        if (out->label[i] != plain->label[i]) { fprintf(stderr, "eval_identify: augmented set differs\n"); return 0; }
    return 1;
}
static const char *aug_name(int jitter, int flip) {
    static char buf[64];
    if (jitter > 0) snprintf(buf, sizeof buf, "mean of %d jittered copies", jitter);
    else snprintf(buf, sizeof buf, flip ? "mean of the chip and its mirror" : "plain");
    return buf;
}

static int in_list(char **names, int n, const char *name) {
    int lo = 0, hi = n - 1; /* ec_list sorts */
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(names[mid], name);
        if (!c) return 1;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return 0;
}

static const char *g_network; /* the network id galleries are made for */
/* The embeddings galleries enrol (--gallery-jitter/--gallery-flip: the dev photos' augmented
   ones; NULL: the plain ones probes use) */
static const float *g_gallery_x;
/* The cohort rule (fnet_identify_cohort): set while the cohort rows run. */
static const fnet_gallery *g_cohort;
static const fnet_impostor_table *g_cohort_table;

static int fcmp(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}
static float median_of(float *v, int n) { /* sorts v */
    qsort(v, (size_t)n, sizeof(float), fcmp);
    return n % 2 ? v[n / 2] : 0.5f * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct stats {
    double probes, rank1, dir, strangers, fa, thr;
} stats;

/* Identifies the known probes and the strangers of one gallery at threshold thr. */
static void score(const set *dev, fnet_gallery *g, const float *gc, const int *gallery_of, const int *is_probe_known,
                  const int *is_stranger, float thr, stats *st) {
    int i;
    fnet_match m[1];
    for (i = 0; i < dev->n; i++) {
        int nm = 0;
        if (!is_probe_known[i] && !is_stranger[i]) continue;
        if (gc) fnet_identify_cohort(g, g_cohort, gc, dev->x + (size_t)i * EC_DIM, EC_DIM, thr, m, 1, &nm);
        else fnet_identify(g, dev->x + (size_t)i * EC_DIM, EC_DIM, thr, m, 1, &nm);
        if (nm < 1) continue;
        if (is_probe_known[i]) {
            st->probes++;
            st->rank1 += m[0].person == gallery_of[dev->label[i]];
            st->dir += m[0].person == gallery_of[dev->label[i]] && m[0].accepted;
        } else {
            st->strangers++;
            st->fa += m[0].accepted;
        }
    }
}

/* A gallery of people[0..k-1]: one random photo each (per 1, !fixed), else their first `per`
   photos; known probes: the enrolled people's other photos (fixed: from photo probe_from on);
   strangers: every photo of everyone else. Threshold fixed_thr when > 0, else from t at far. */
static void run_gallery(const set *dev, const fnet_impostor_table *t, double far, const int *people, int k,
                        int per, int fixed, int probe_from, float fixed_thr, stats *st) {
    fnet_gallery *g = NULL;
    int np = dev->lab.n_people, i, j;
    int *gallery_of = (int *)malloc((size_t)np * sizeof(int)), *enr = (int *)calloc((size_t)dev->n, sizeof(int));
    int *known = (int *)calloc((size_t)dev->n, sizeof(int)), *stranger = (int *)calloc((size_t)dev->n, sizeof(int));
    float thr, *gc = NULL;
    const float *gx = g_gallery_x ? g_gallery_x : dev->x;
    for (i = 0; i < np; i++) gallery_of[i] = -1;
    fnet_gallery_create(g_network, EC_DIM, &g);
    for (j = 0; j < k; j++) {
        int p = people[j], c = dev->cnt[p], f = dev->first[p], q;
        if (per == 1 && !fixed) {
            q = f + (int)(rnd() % (unsigned long long)c);
            fnet_gallery_enroll(g, dev->lab.people[p], gx + (size_t)q * EC_DIM, 1);
            enr[q] = 1;
        } else {
            fnet_gallery_enroll(g, dev->lab.people[p], gx + (size_t)f * EC_DIM, per);
            for (q = f; q < f + per; q++) enr[q] = 1;
        }
        gallery_of[p] = fnet_gallery_count(g) - 1;
        for (q = f + (fixed ? probe_from : 0); q < f + c; q++) known[q] = !enr[q];
    }
    for (i = 0; i < dev->n; i++) stranger[i] = gallery_of[dev->label[i]] < 0;
    if (g_cohort) { /* the cohort rule: its table, the gallery's cohort distances */
        gc = (float *)malloc((size_t)fnet_gallery_embedding_count(g) * sizeof(float));
        fnet_cohort_distances(g_cohort, g, gc);
        t = g_cohort_table;
    }
    if (fixed_thr > 0) thr = fixed_thr;
    else fnet_far_threshold(t, far, fnet_gallery_embedding_count(g), &thr);
    st->thr += thr;
    score(dev, g, gc, gallery_of, known, stranger, thr, st);
    free(gc);
    fnet_gallery_free(g);
    free(gallery_of);
    free(enr);
    free(known);
    free(stranger);
}

/* 0. --tune: the cohort score's design chosen on lfw-train people outside lfw-dev only (the
   people of 1 and 1b; lfw-dev is not read). 52 of them have >= 2 photos, 1,401 one. Each of
   SPLITS random splits puts every person with >= 2 photos (gallery people) and 450 random
   people with one photo (strangers; --tune-strangers N) in a tuning part, the other one-photo
   people (951 photos, 62% of the shipped cohort's 1,534) in a cohort part. For each
   candidate, the impostor table of its score is measured on the cohort part's pairs (each
   pair's cohort statistics without the two photos, as in 1b), and galleries of 10, 20, 40
   tuning people (one random photo each; probes: their other photos, 81 in all; strangers:
   the 450 plus the gallery people not enrolled) are identified at `far` with that table's
   threshold (the rule of section 2), every candidate on the same galleries. Candidates, with
   c and sd the mean and spread of a photo's K nearest cohort distances: the plain distance;
   ratio d / ((c_p + c_e) / 2) (fnet_identify_cohort); difference d - (c_p + c_e) / 2; AS-norm
   z-score ((d - c_p) / sd_p + (d - c_e) / sd_e) / 2; geometric mean d / sqrt(c_p c_e); probe
   only d / c_p; gallery only d / c_e; each for K = 3..80; --tune-unit: all of them on
   embeddings scaled to length 1. Then, for the shipped ratio at 40 people, what the
   threshold accepting exactly `far` of these strangers would give (an upper bound for any
   threshold model), on s1 and on the margin s1 / s2 to the second-best person (the ratio
   test). The split-to-split spread of the 40-person rate is printed too; the probes being 81 photos of 52 people, levels carry more doubt than the
   differences between candidates on the same galleries. */
static int tune_strangers = 450; /* --tune-strangers */
static int tune_unit; /* --tune-unit: embeddings scaled to length 1 first */
static const int tune_ks[] = {3, 5, 10, 20, 40, 80};
#define TUNE_NK ((int)(sizeof tune_ks / sizeof tune_ks[0]))
#define TUNE_KMAX 80
static const char *const tune_forms[] = {"plain", "ratio", "diff", "z-score", "geomean", "probe", "gallery"};
#define TUNE_NF ((int)(sizeof tune_forms / sizeof tune_forms[0]))

static float tune_score(int form, float d, float mp, float sp, float me, float se) {
    switch (form) {
    case 1: return d / (0.5f * (mp + me));
    case 2: return d - 0.5f * (mp + me);
    case 3: return 0.5f * ((d - mp) / sp + (d - me) / se);
    case 4: return d / sqrtf(mp * me);
    case 5: return d / mp;
    case 6: return d / me;
    default: return d;
    }
}

/* mean and spread of the K smallest of row[0..L) (ascending), skipping index `skip` of nb */
static void tune_stats(const float *row, const int *nb, int L, int K, int skip, float *m, float *s) {
    double a = 0, b = 0;
    int q, got = 0;
    for (q = 0; q < L && got < K; q++) {
        if (nb[q] == skip) continue;
        a += row[q];
        b += (double)row[q] * row[q];
        got++;
    }
    a /= got;
    b = b / got - a * a;
    *m = (float)a;
    *s = (float)sqrt(b > 1e-12 ? b : 1e-12);
}

/* What a perfect threshold model would give the shipped rule: the threshold on key that
   accepts `far` of the strangers among the observations (t 0), and the share of the probes
   (t 1, 2) accepted as the right person there. */
static const float *tune_key;
static int tune_cmp(const void *a, const void *b) {
    float x = tune_key[*(const int *)a], y = tune_key[*(const int *)b];
    return (x > y) - (x < y);
}
static void tune_oracle(const char *what, const float *key, const int *t, size_t n, double far) {
    int *ix = (int *)malloc((n + 1) * sizeof(int));
    size_t i, strangers = 0, probes = 0, fa = 0, right = 0;
    float thr = 0;
    for (i = 0; i < n; i++) {
        ix[i] = (int)i;
        strangers += t[i] == 0;
    }
    probes = n - strangers;
    tune_key = key;
    qsort(ix, n, sizeof(int), tune_cmp);
    for (i = 0; i < n; i++) {
        if (t[ix[i]] == 0) {
            if ((double)(fa + 1) > far * (double)strangers) break;
            fa++;
        }
        right += t[ix[i]] == 1;
        thr = key[ix[i]];
    }
    printf("  the ratio, K=%d, 40 people, thresholded at %.4f on %s, which accepts %.2f%% of these strangers: "
           "right+accepted %5.1f%%\n", FNET_COHORT_K, thr, what, 100.0 * fa / strangers, 100.0 * right / probes);
    free(ix);
}

static int tune(set *tr, const set *trg, const char *network, int splits, int trials, double far) {
    int n = tr->n, np = tr->lab.n_people, i, j, sp, L = TUNE_KMAX + 1;
    int *multi = (int *)malloc((size_t)np * sizeof(int)), *single = (int *)malloc((size_t)np * sizeof(int));
    int n_multi = 0, n_single = 0, *in_cohort = (int *)malloc((size_t)n * sizeof(int));
    int *cidx = (int *)malloc((size_t)n * sizeof(int)), nc;
    float *D = (float *)malloc((size_t)n * n * sizeof(float));
    float *nd = (float *)malloc((size_t)n * L * sizeof(float));
    int *nb = (int *)malloc((size_t)n * L * sizeof(int));
    float *mu = (float *)malloc((size_t)n * sizeof(float)), *sd = (float *)malloc((size_t)n * sizeof(float));
    float *imp = (float *)malloc((size_t)n * n * sizeof(float) + 4);
    /* the gallery side (--gallery-jitter/--gallery-flip: augmented embeddings of the same
       photos; else the plain ones): Dg[e n + i] = d(gallery-side e, plain i), and its rows'
       nearest cohort photos and statistics */
    float *Dg = trg ? (float *)malloc((size_t)n * n * sizeof(float)) : D;
    float *ndg = trg ? (float *)malloc((size_t)n * L * sizeof(float)) : nd;
    int *nbg = trg ? (int *)malloc((size_t)n * L * sizeof(int)) : nb;
    float *mug = trg ? (float *)malloc((size_t)n * sizeof(float)) : mu, *sdg = trg ? (float *)malloc((size_t)n * sizeof(float)) : sd;
    static const int gsizes[] = {10, 20, 40};
    /* [form][k][size]: probes, right-and-accepted, rank-1, strangers, accepted */
    static double acc[TUNE_NF][TUNE_NK][3][5];
    static double per_split[TUNE_NF][TUNE_NK][2]; /* 40 people: sum and sum of squares of each split's rate */
    double *split_rate = (double *)calloc((size_t)splits, sizeof(double)); /* the shipped ratio's, 40 people */
    int *gal = (int *)malloc((size_t)np * sizeof(int)), *is_g = (int *)malloc((size_t)np * sizeof(int));
    /* the shipped rule at 40 people, every probe and stranger: best score s1, the margin s1 / s2
       over the second-best person, and 1 right / 2 wrong person / 0 stranger */
    size_t n_obs = 0, max_obs = (size_t)splits * trials * n;
    float *obs_s1 = (float *)malloc(max_obs * sizeof(float)), *obs_m = (float *)malloc(max_obs * sizeof(float));
    int *obs_t = (int *)malloc(max_obs * sizeof(int));
    if (tune_unit)
        for (i = 0; i < n; i++) {
            float *x = tr->x + (size_t)i * EC_DIM, l;
            double q = 0;
            for (j = 0; j < EC_DIM; j++) q += (double)x[j] * x[j];
            l = (float)sqrt(q);
            for (j = 0; j < EC_DIM; j++) x[j] /= l;
        }
    for (i = 0; i < n; i++)
        for (j = 0; j < n; j++) D[(size_t)i * n + j] = fnet_distance(tr->x + (size_t)i * EC_DIM, tr->x + (size_t)j * EC_DIM, EC_DIM);
    if (trg)
        for (i = 0; i < n; i++)
            for (j = 0; j < n; j++)
                Dg[(size_t)i * n + j] = fnet_distance(trg->x + (size_t)i * EC_DIM, tr->x + (size_t)j * EC_DIM, EC_DIM);
    for (i = 0; i < np; i++) {
        if (tr->cnt[i] >= 2) multi[n_multi++] = i;
        else if (tr->cnt[i] == 1) single[n_single++] = i;
    }
    if (n_multi < 40 || tune_strangers < 1 || n_single - tune_strangers < L + 1) {
        fprintf(stderr, "eval_identify: --tune needs 40 people with >= 2 photos and %d one-photo people beyond the "
                        "strangers (have %d and %d)\n", L + 1, n_multi, n_single - tune_strangers);
        return 1;
    }
    memset(acc, 0, sizeof acc);
    memset(per_split, 0, sizeof per_split);
    printf("tuning on lfw-train people outside lfw-dev: %d with >= 2 photos (galleries), %d with one (%d strangers "
           "per split, %d cohort photos); %d splits x %d galleries per size, FAR %.3g\n",
           n_multi, n_single, tune_strangers, n_single - tune_strangers, splits, trials, far);
    for (sp = 0; sp < splits; sp++) {
        unsigned long long keep;
        int f, kk;
        shuffle(single, n_single);
        for (i = 0; i < n; i++) in_cohort[i] = 0;
        for (nc = 0, i = tune_strangers; i < n_single; i++) {
            int q = tr->first[single[i]];
            in_cohort[q] = 1;
            cidx[nc++] = q;
        }
        /* every photo's L nearest cohort photos (itself excluded), ascending; again for the
           gallery side */
        for (i = 0; i < (trg ? 2 * n : n); i++) {
            int side = i >= n, a = i - (side ? n : 0);
            float *row = (side ? ndg : nd) + (size_t)a * L;
            int *nbr = (side ? nbg : nb) + (size_t)a * L, m = 0, q;
            for (j = 0; j < nc; j++) {
                float d;
                if (cidx[j] == a) continue;
                d = (side ? Dg : D)[(size_t)a * n + cidx[j]];
                if (m == L && !(d < row[m - 1])) continue;
                q = m < L ? m++ : L - 1;
                while (q > 0 && d < row[q - 1]) { row[q] = row[q - 1]; nbr[q] = nbr[q - 1]; q--; }
                row[q] = d;
                nbr[q] = cidx[j];
            }
        }
        keep = rng_state;
        for (f = 0; f < TUNE_NF; f++)
            for (kk = 0; kk < TUNE_NK; kk++) {
                int K = tune_ks[kk], si;
                size_t n_imp = 0;
                float sh;
                fnet_impostor_table t;
                if (f == 0 && kk > 0) continue;
                for (i = 0; i < n; i++) tune_stats(nd + (size_t)i * L, nb + (size_t)i * L, L, K, -1, &mu[i], &sd[i]);
                if (trg)
                    for (i = 0; i < n; i++) tune_stats(ndg + (size_t)i * L, nbg + (size_t)i * L, L, K, -1, &mug[i], &sdg[i]);
                for (i = 0; i < nc; i++)
                    for (j = trg ? 0 : i + 1; j < nc; j++) {
                        /* plain: every pair once; augmented gallery: every ordered pair, a on
                           the gallery side, b a plain probe (the mixed case identify sees) */
                        int a = cidx[i], b = cidx[j];
                        float ma, sa, mb, sb;
                        if (i == j) continue;
                        tune_stats(ndg + (size_t)a * L, nbg + (size_t)a * L, L, K, b, &ma, &sa);
                        tune_stats(nd + (size_t)b * L, nb + (size_t)b * L, L, K, a, &mb, &sb);
                        imp[n_imp++] = tune_score(f, Dg[(size_t)a * n + b], mb, sb, ma, sa);
                    }
                sh = 0; /* the table wants scores >= 0: differences and z-scores shifted up by sh */
                if (f == 2 || f == 3) {
                    float lo = 0;
                    for (i = 0; i < (int)n_imp; i++) if (imp[i] < lo) lo = imp[i];
                    sh = 1.0f - lo;
                    for (i = 0; i < (int)n_imp; i++) imp[i] += sh;
                }
                if (fnet_impostor_table_build(network, imp, n_imp, NULL, &t) != FNET_OK) return 1;
                rng_state = keep; /* every candidate: the same galleries */
                for (si = 0; si < 3; si++) {
                    int k = gsizes[si], tt;
                    float thr;
                    double before[2];
                    before[0] = acc[f][kk][si][0];
                    before[1] = acc[f][kk][si][1];
                    fnet_far_threshold(&t, far, k, &thr);
                    thr -= sh;
                    for (tt = 0; tt < trials; tt++) {
                        int p;
                        double *a = acc[f][kk][si];
                        shuffle(multi, n_multi);
                        for (p = 0; p < np; p++) is_g[p] = -1;
                        for (p = 0; p < k; p++) {
                            int who = multi[p];
                            gal[p] = tr->first[who] + (int)(rnd() % (unsigned long long)tr->cnt[who]);
                            is_g[who] = p;
                        }
                        for (i = 0; i < n; i++) {
                            int best_p = -1, known;
                            float best = FLT_MAX, second = FLT_MAX;
                            if (in_cohort[i]) continue;
                            known = is_g[tr->label[i]] >= 0;
                            if (known && gal[is_g[tr->label[i]]] == i) continue; /* enrolled */
                            for (p = 0; p < k; p++) {
                                int e = gal[p];
                                float s = tune_score(f, Dg[(size_t)e * n + i], mu[i], sd[i], mug[e], sdg[e]);
                                if (s < best) { second = best; best = s; best_p = p; }
                                else if (s < second) second = s;
                            }
                            if (f == 1 && K == FNET_COHORT_K && k == 40) {
                                obs_s1[n_obs] = best;
                                obs_m[n_obs] = best / second;
                                obs_t[n_obs++] = known ? (best_p == is_g[tr->label[i]] ? 1 : 2) : 0;
                            }
                            if (known) {
                                a[0]++;
                                a[2] += best_p == is_g[tr->label[i]];
                                a[1] += best_p == is_g[tr->label[i]] && best <= thr;
                            } else {
                                a[3]++;
                                a[4] += best <= thr;
                            }
                        }
                    }
                    if (si == 2) {
                        double r = (acc[f][kk][si][1] - before[1]) / (acc[f][kk][si][0] - before[0]);
                        if (f == 1 && K == FNET_COHORT_K) split_rate[sp] = r;
                        per_split[f][kk][0] += r;
                        per_split[f][kk][1] += r * r;
                    }
                }
            }
    }
    for (i = 0; i < TUNE_NF; i++)
        for (j = 0; j < TUNE_NK; j++) {
            int si;
            if (i == 0 && j > 0) continue;
            printf("  %-8s K=%2d:", tune_forms[i], i ? tune_ks[j] : 0);
            for (si = 0; si < 3; si++) {
                double *a = acc[i][j][si];
                printf("  %d people: right+accepted %5.1f%% rank-1 %5.1f%% strangers acc %4.2f%%", gsizes[si],
                       100 * a[1] / a[0], 100 * a[2] / a[0], 100 * a[4] / a[3]);
            }
            {
                double m = per_split[i][j][0] / splits, v = per_split[i][j][1] / splits - m * m;
                printf("  (40 people, split to split: sd %.1f points)", 100 * sqrt(v > 0 ? v * splits / (splits - 1.0) : 0));
            }
            printf("\n");
        }
    if (trg) { free(Dg); free(ndg); free(nbg); free(mug); free(sdg); }
    free(multi); free(single); free(in_cohort); free(cidx); free(D); free(nd); free(nb); free(mu); free(sd);
    printf("  the ratio, K=%d, 40 people, right+accepted per split (to pair runs of other gallery sides):", FNET_COHORT_K);
    for (sp = 0; sp < splits; sp++) printf(" %.4f", split_rate[sp]);
    printf("\n");
    free(split_rate);
    tune_oracle("s1", obs_s1, obs_t, n_obs, far);
    tune_oracle("s1 / s2", obs_m, obs_t, n_obs, far);
    free(imp); free(gal); free(is_g); free(obs_s1); free(obs_m); free(obs_t);
    return 0;
}

static void report(const char *what, int k, int trials, double far, const stats *s, double predicted) {
    printf("  %-14s K=%4d: threshold %.4f  rank-1 %6.2f%%  accepted as the right person %6.2f%% (of %.0f probes)  "
           "strangers accepted %5.2f%% (of %.0f; model %.2f%%)\n",
           what, k, s->thr / trials, 100 * s->rank1 / s->probes, 100 * s->dir / s->probes, s->probes / trials,
           100 * s->fa / s->strangers, s->strangers / trials, 100 * predicted);
    (void)far;
}

int main(int argc, char **argv) {
    ec_lfw_opts o;
    embcache ec;
    ec_labelled tlab, dlab;
    set tr, dev;
    char troot[2048], droot[2048];
    const char *cohort_out = NULL;
    fnet_gallery *cohort = NULL;
    fnet_impostor_table cohort_measured, cohort_shipped;
    int rule;
    int gallery_jitter = 0, gallery_flip = 0;
    set trg, devg;
    int aug;
    const float *gx;
    int i, j, trials = 20, table_only = 0, tune_splits = 0, n_multi = 0, n_single = 0, n4 = 0, overlap = 0;
    int *multi, *single, *four, *people;
    double far = FNET_DEFAULT_FAR;
    float *imp;
    size_t n_imp = 0;
    fnet_impostor_table measured, shipped;
    const fnet_impostor_table *use;
    static const int sizes[] = {10, 20, 40, 100, 200, 450, 1000};
    ec_lfw_opts_init(&o);
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--table")) { table_only = 1; continue; }
        if (!strcmp(argv[i], "--tune") && i + 1 < argc) { tune_splits = atoi(argv[++i]); continue; }
        if (!strcmp(argv[i], "--tune-unit")) { tune_unit = 1; continue; }
        if (!strcmp(argv[i], "--gallery-jitter") && i + 1 < argc) { gallery_jitter = atoi(argv[++i]); continue; }
        if (!strcmp(argv[i], "--gallery-flip")) { gallery_flip = 1; continue; }
        if (!strcmp(argv[i], "--tune-strangers") && i + 1 < argc) { tune_strangers = atoi(argv[++i]); continue; }
        if (!strcmp(argv[i], "--write-cohort") && i + 1 < argc) { cohort_out = argv[++i]; continue; }
        if (!strcmp(argv[i], "--far") && i + 1 < argc) { far = atof(argv[++i]); continue; }
        if (!strcmp(argv[i], "--trials") && i + 1 < argc) { trials = atoi(argv[++i]); continue; }
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) { rng_state = strtoull(argv[++i], NULL, 10); continue; }
        if (!ec_lfw_option(&o, argc, argv, &i)) {
            fprintf(stderr, "usage: eval_identify [--net resnet|nn4] [--net-blob FILE] [--weights DIR] [--cache DIR] "
                            "[--far F] [--trials T] [--seed S] [--table] [--write-cohort FILE] "
                            "[--tune SPLITS [--tune-strangers N] [--tune-unit]] [--gallery-jitter N | --gallery-flip]\n");
            return 2;
        }
    }
    if (!(far > 0 && far < 1) || trials < 1 || gallery_jitter < 0 || gallery_jitter > EC_JITTER_MAX) {
        fprintf(stderr, "eval_identify: --far in (0, 1), --trials >= 1, --gallery-jitter 0..%d\n", EC_JITTER_MAX);
        return 2;
    }
    ec_shared_path("data/lfw-train/lfw-deepfunneled", troot, sizeof troot);
    ec_shared_path("data/lfw-dev/lfw-deepfunneled", droot, sizeof droot);
    if (!ec_open_blob(&ec, o.weights, o.net, o.net_blob, o.cache)) return 1;
    ec.centre_fallback = 1; /* as tools/eval_match.c: the same cache entries; fallbacks dropped */
    g_network = ec.network_id;
    if (!ec_labelled_dir(troot, &tlab) || !ec_labelled_dir(droot, &dlab)) return 1;
    /* 1. the table's people: lfw-train's minus everyone in lfw-dev */
    {
        int n = 0, np = 0, *remap = (int *)malloc((size_t)tlab.n_people * sizeof(int));
        for (i = 0; i < tlab.n_people; i++) {
            if (in_list(dlab.people, dlab.n_people, tlab.people[i])) { remap[i] = -1; overlap++; free(tlab.people[i]); continue; }
            remap[i] = np;
            tlab.people[np++] = tlab.people[i];
        }
        for (i = 0; i < tlab.n; i++) {
            if (remap[tlab.label[i]] < 0) { free(tlab.paths[i]); continue; }
            tlab.paths[n] = tlab.paths[i];
            tlab.label[n++] = remap[tlab.label[i]];
        }
        tlab.n = n;
        tlab.n_people = np;
        free(remap);
        for (i = 0; i < np; i++)
            if (in_list(dlab.people, dlab.n_people, tlab.people[i])) { fprintf(stderr, "eval_identify: overlap left\n"); return 1; }
    }
    if (!load_set(&ec, &tlab, &tr)) return 1;
    if (gallery_jitter > 0 || gallery_flip) { /* the gallery side: the same photos, augmented */
        if (!load_augmented(&ec, &tlab, &tr, gallery_jitter, gallery_flip, &trg)) return 1;
        printf("gallery side: %s (probes, strangers and the cohort plain)\n", aug_name(gallery_jitter, gallery_flip));
    }
    if (tune_splits > 0) return tune(&tr, gallery_jitter > 0 || gallery_flip ? &trg : NULL, ec.network_id, tune_splits, trials, far);
    aug = gallery_jitter > 0 || gallery_flip;
    gx = aug ? trg.x : tr.x; /* the gallery side of every pair below */
    /* plain: every pair once; augmented galleries: every ordered pair, the first photo on the
       gallery side (augmented), the second a plain probe: the mixed case identify sees */
    imp = (float *)malloc((size_t)tr.n * (size_t)tr.n * sizeof(float) + 4);
    for (i = 0; i < tr.n; i++)
        for (j = aug ? 0 : i + 1; j < tr.n; j++)
            if (tr.label[i] != tr.label[j]) imp[n_imp++] = fnet_distance(gx + (size_t)i * EC_DIM, tr.x + (size_t)j * EC_DIM, EC_DIM);
    if (fnet_impostor_table_build(ec.network_id, imp, n_imp, NULL, &measured) != FNET_OK) { fprintf(stderr, "table build failed\n"); return 1; }
    printf("network %s: impostor table from %s: %d people (%d people also in lfw-dev left out), %d photos (%d without "
           "a detection left out), %zu pairs of different people; median %.4f, 1e-3 quantile %.4f, 1e-5 %.4f, min %.4f\n",
           ec.network_id, troot, tlab.n_people, overlap, tr.n, tr.dropped, n_imp, imp[n_imp / 2], imp[n_imp / 1000],
           imp[n_imp / 100000], imp[0]);
    printf("/* %s: %zu impostor pairs%s, %d photos of %d LFW people outside lfw-dev (make impostor-table) */\n",
           ec.network_id, n_imp, aug ? " (ordered: augmented gallery photo, plain probe)" : "", tr.n, tlab.n_people);
    for (i = 0; i < measured.n; i++)
        printf("    {%.4ff, %.4ff},%s", measured.distance[i], measured.log10_rate[i], i % 4 == 3 || i + 1 == measured.n ? "\n" : "");
    free(imp);
    /* 1b. the cohort: the same photos as a gallery (--write-cohort saves it: make cohort), and
       the impostor table of cohort-normalised scores s = d / ((c_i + c_j) / 2), where c of
       each photo of a pair is taken over the cohort without both people's photos (in use the
       probe and the gallery are never in the cohort either) */
    fnet_gallery_create(ec.network_id, EC_DIM, &cohort);
    for (i = 0; i < tlab.n_people; i++)
        if (tr.cnt[i] > 0) fnet_gallery_enroll(cohort, tlab.people[i], tr.x + (size_t)tr.first[i] * EC_DIM, tr.cnt[i]);
    if (cohort_out) {
        fnet_result r = fnet_gallery_save(cohort, cohort_out);
        if (r != FNET_OK) { fprintf(stderr, "eval_identify: %s: %s\n", cohort_out, fnet_result_string(r)); return 1; }
        printf("cohort: %d photos of %d people written to %s\n", fnet_gallery_embedding_count(cohort),
               fnet_gallery_count(cohort), cohort_out);
    }
    {
        int maxc = 0, L, *nb, side;
        float *nd, *row = (float *)malloc((size_t)tr.n * sizeof(float));
        int *ord = (int *)malloc((size_t)tr.n * sizeof(int));
        for (i = 0; i < tlab.n_people; i++) if (tr.cnt[i] > maxc) maxc = tr.cnt[i];
        L = FNET_COHORT_K + maxc; /* a photo's nearest other-person photos, enough to skip one person */
        /* rows 0..n-1: the plain photos; n..2n-1 (augmented galleries): their gallery side */
        nd = (float *)malloc((size_t)tr.n * 2 * L * sizeof(float));
        nb = (int *)malloc((size_t)tr.n * 2 * L * sizeof(int));
        imp = (float *)malloc((size_t)tr.n * (size_t)tr.n * sizeof(float) + 4);
        n_imp = 0;
        for (side = 0; side < (aug ? 2 : 1); side++)
        for (i = 0; i < tr.n; i++) { /* the L nearest photos of other people, ascending (insertion) */
            int n = 0, q;
            const float *xi = (side ? gx : tr.x) + (size_t)i * EC_DIM;
            for (j = 0; j < tr.n; j++) {
                float d;
                if (tr.label[j] == tr.label[i]) continue;
                d = fnet_distance(xi, tr.x + (size_t)j * EC_DIM, EC_DIM);
                if (n == L && !(d < row[n - 1])) continue;
                q = n < L ? n++ : L - 1;
                while (q > 0 && d < row[q - 1]) { row[q] = row[q - 1]; ord[q] = ord[q - 1]; q--; }
                row[q] = d;
                ord[q] = j;
            }
            memcpy(nd + ((size_t)side * tr.n + i) * L, row, (size_t)L * sizeof(float));
            for (q = 0; q < L; q++) nb[((size_t)side * tr.n + i) * L + q] = tr.label[ord[q]];
        }
        for (i = 0; i < tr.n; i++)
            for (j = aug ? 0 : i + 1; j < tr.n; j++) {
                double c[2];
                int side, q, got;
                if (tr.label[i] == tr.label[j]) continue;
                for (side = 0; side < 2; side++) { /* c of i (gallery side) without j's person, of j without i's */
                    int a = side ? j : i + (aug ? tr.n : 0), other = tr.label[side ? i : j];
                    c[side] = 0;
                    for (q = 0, got = 0; q < L && got < FNET_COHORT_K; q++)
                        if (nb[(size_t)a * L + q] != other) { c[side] += nd[(size_t)a * L + q]; got++; }
                    c[side] /= got;
                }
                imp[n_imp++] = (float)(fnet_distance(gx + (size_t)i * EC_DIM, tr.x + (size_t)j * EC_DIM, EC_DIM) /
                                       (0.5 * (c[0] + c[1])));
            }
        if (fnet_impostor_table_build(ec.network_id, imp, n_imp, NULL, &cohort_measured) != FNET_OK) {
            fprintf(stderr, "cohort table build failed\n");
            return 1;
        }
        printf("/* %s, cohort-normalised: %zu impostor pairs (make impostor-table) */\n", ec.network_id, n_imp);
        for (i = 0; i < cohort_measured.n; i++)
            printf("    {%.4ff, %.4ff},%s", cohort_measured.distance[i], cohort_measured.log10_rate[i],
                   i % 4 == 3 || i + 1 == cohort_measured.n ? "\n" : "");
        free(imp); free(nd); free(nb); free(row); free(ord);
    }
    if (table_only) return 0;
    /* the shipped tables for these galleries (jitter: fnet_network_*_table_jitter; flip: none) */
    if ((aug && (!gallery_jitter || fnet_network_cohort_table_jitter(ec.network_id, gallery_jitter, &cohort_shipped) != FNET_OK)) ||
        (!aug && fnet_network_cohort_table(ec.network_id, &cohort_shipped) != FNET_OK))
        cohort_shipped = cohort_measured;

    /* 2. dev galleries */
    if (!load_set(&ec, &dlab, &dev)) return 1;
    if (aug) { /* galleries of augmented embeddings, the tables shipped (else measured above) for them */
        if (!load_augmented(&ec, &dlab, &dev, gallery_jitter, gallery_flip, &devg)) return 1;
        g_gallery_x = devg.x;
        if (gallery_jitter && fnet_network_impostor_table_jitter(ec.network_id, gallery_jitter, &shipped) == FNET_OK) {
            use = &shipped;
            printf("galleries enrol %s: evaluated with the tables shipped for them (%d points, %.0f pairs);",
                   aug_name(gallery_jitter, gallery_flip), shipped.n, shipped.pairs);
        } else {
            use = &measured;
            printf("galleries enrol %s: no shipped tables, evaluated with the ones measured above;",
                   aug_name(gallery_jitter, gallery_flip));
        }
    } else if (fnet_network_impostor_table(ec.network_id, &shipped) == FNET_OK) {
        use = &shipped;
        printf("evaluated with the shipped table (%d points, %.0f pairs);", shipped.n, shipped.pairs);
    } else {
        use = &measured;
        printf("no shipped table for %s: evaluated with the measured one;", ec.network_id);
    }
    printf(" thresholds shipped / measured at FAR %.3g:", far);
    for (i = 0; i < (int)(sizeof sizes / sizeof sizes[0]); i++) {
        float a = 0, b = 0;
        fnet_far_threshold(use, far, sizes[i], &a);
        fnet_far_threshold(&measured, far, sizes[i], &b);
        printf(" K=%d %.4f/%.4f", sizes[i], a, b);
    }
    printf("\nLFW dev: %d photos of %d people (%d without a detection left out)\n", dev.n, dev.lab.n_people, dev.dropped);
    multi = (int *)malloc((size_t)dev.lab.n_people * sizeof(int));
    single = (int *)malloc((size_t)dev.lab.n_people * sizeof(int));
    four = (int *)malloc((size_t)dev.lab.n_people * sizeof(int));
    people = (int *)malloc((size_t)dev.lab.n_people * sizeof(int));
    for (i = 0; i < dev.lab.n_people; i++) {
        if (dev.cnt[i] >= 2) multi[n_multi++] = i;
        else if (dev.cnt[i] == 1) single[n_single++] = i;
        if (dev.cnt[i] >= 4) four[n4++] = i;
    }
    {
        unsigned long long keep = rng_state; /* both rules see the same galleries */
        for (rule = 0; rule < 2; rule++) {
            const fnet_impostor_table *ut = rule ? &cohort_shipped : use;
            rng_state = keep;
            g_cohort = rule ? cohort : NULL;
            g_cohort_table = &cohort_shipped;
            printf("identification at FAR %.3g, %s (%d random galleries per size, one random photo per person; %d people with >= 2 "
                   "photos, %d with one):\n", far, rule ? "cohort-normalised scores (fnet_identify_cohort)" : "plain distances (fnet_identify)", trials, n_multi, n_single);
            for (i = 0; i < (int)(sizeof sizes / sizeof sizes[0]); i++) {
                int k = sizes[i], t;
                stats st;
                float thr;
                memset(&st, 0, sizeof st);
                if (k > n_multi + n_single - 50) continue;
                for (t = 0; t < trials; t++) {
                    shuffle(multi, n_multi);
                    shuffle(single, n_single);
                    for (j = 0; j < k; j++) people[j] = j < n_multi ? multi[j] : single[j - n_multi];
                    run_gallery(&dev, ut, far, people, k, 1, 0, 0, 0, &st);
                }
                fnet_far_threshold(ut, far, k, &thr);
                report(rule ? "1 photo,cohort" : "1 photo", k, trials, far, &st, 1 - pow(1 - fnet_impostor_rate(ut, thr), k));
            }
            /* 3. several photos per person */
            printf("several photos per person (people with >= 4 photos: %d; probes: their photos after the third):\n", n4);
            for (i = 0; i < 3; i++) {
                int k = i == 0 ? 10 : i == 1 ? 40 : 100, per, t;
                if (k > n4) continue;
                for (per = 1; per <= 3; per += 2) {
                    stats st;
                    float thr;
                    char what[32];
                    memset(&st, 0, sizeof st);
                    rng_state += 1000; /* same galleries for 1 and 3 photos */
                    {
                        unsigned long long keep = rng_state;
                        for (t = 0; t < trials; t++) {
                            shuffle(four, n4);
                            run_gallery(&dev, ut, far, four, k, per, 1, 3, 0, &st);
                        }
                        rng_state = keep;
                    }
                    fnet_far_threshold(ut, far, (double)k * per, &thr);
                    snprintf(what, sizeof what, rule ? "%d each,cohort" : "%d photos each", per);
                    report(what, k, trials, far, &st, 1 - pow(1 - fnet_impostor_rate(ut, thr), (double)k * per));
                }
            }
        }
        g_cohort = NULL;
    }
    if (aug) return 0; /* 4 and 5 are about plain galleries */
    /* 5. what fnet calibrate does with a user's folder: the impostor table of 20 dev people
       with >= 3 photos (every photo; the tail below 100/pairs from the shipped table, shifted),
       then galleries of 40 of the OTHER people at that table's thresholds */
    {
        int *three = (int *)malloc((size_t)dev.lab.n_people * sizeof(int)), n3 = 0, *rest, nr = 0, t, p, q, f;
        int *in_folder = (int *)calloc((size_t)dev.lab.n_people, sizeof(int)), photos = 0;
        float *fd = NULL;
        size_t nf = 0;
        fnet_impostor_table user;
        stats st;
        for (i = 0; i < dev.lab.n_people; i++)
            if (dev.cnt[i] >= 3) three[n3++] = i;
        shuffle(three, n3);
        for (i = 0; i < 20 && i < n3; i++) { in_folder[three[i]] = 1; photos += dev.cnt[three[i]]; }
        fd = (float *)malloc((size_t)photos * (size_t)photos / 2 * sizeof(float) + 4);
        /* as fnet calibrate: one distance per pair of people, the median of their photos' */
        for (p = 0; p < 20 && p < n3; p++)
            for (q = p + 1; q < 20 && q < n3; q++) {
                int a = three[p], b = three[q], u, v, m = 0;
                float *cross = (float *)malloc((size_t)dev.cnt[a] * (size_t)dev.cnt[b] * sizeof(float));
                for (u = dev.first[a]; u < dev.first[a] + dev.cnt[a]; u++)
                    for (v = dev.first[b]; v < dev.first[b] + dev.cnt[b]; v++)
                        cross[m++] = fnet_distance(dev.x + (size_t)u * EC_DIM, dev.x + (size_t)v * EC_DIM, EC_DIM);
                fd[nf++] = median_of(cross, m);
                free(cross);
            }
        if (fnet_impostor_table_build(ec.network_id, fd, nf, use, &user) == FNET_OK) {
            rest = (int *)malloc((size_t)n_multi * sizeof(int));
            for (i = 0; i < n_multi; i++)
                if (!in_folder[multi[i]]) rest[nr++] = multi[i];
            printf("a calibration folder of 20 dev people (%d photos, %zu pairs of people, tail below the median from the "
                   "shipped table), galleries of other dev people:\n", photos, nf);
            for (f = 0; f < 2; f++) {
                int k = f ? 100 : 40;
                float thr;
                memset(&st, 0, sizeof st);
                for (t = 0; t < trials; t++) {
                    shuffle(rest, nr);
                    run_gallery(&dev, &user, far, rest, k, 1, 0, 0, 0, &st);
                }
                fnet_far_threshold(&user, far, k, &thr);
                report("calibrated", k, trials, far, &st, 1 - pow(1 - fnet_impostor_rate(&user, thr), k));
            }
            free(rest);
        }
        free(fd);
        free(three);
        free(in_folder);
    }
    /* 4. the fixed threshold fnet identify used before */
    {
        stats st;
        float fixed = fnet_network_threshold_for(ec.network_id, FNET_THRESHOLD_IDENTIFY);
        int t;
        memset(&st, 0, sizeof st);
        for (t = 0; t < trials; t++) {
            shuffle(multi, n_multi);
            run_gallery(&dev, use, far, multi, 40, 1, 0, 0, fixed, &st);
        }
        printf("before: the fixed FNET_THRESHOLD_IDENTIFY; then a sweep of fixed thresholds at K = 40:\n");
        report("fixed", 40, trials, far, &st, 1 - pow(1 - fnet_impostor_rate(use, fixed), 40));
        for (fixed = 0.45f; fixed < 0.66f; fixed += 0.01f) {
            memset(&st, 0, sizeof st);
            for (t = 0; t < trials; t++) {
                shuffle(multi, n_multi);
                run_gallery(&dev, use, far, multi, 40, 1, 0, 0, fixed, &st);
            }
            report("sweep", 40, trials, far, &st, 1 - pow(1 - fnet_impostor_rate(use, fixed), 40));
        }
    }
    return 0;
}
