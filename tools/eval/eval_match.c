/* eval_match - the matching stage's figures on LFW dev (../shared/data/lfw-dev), through the
   whole facenet.h pipeline (embeddings cached under build/embcache by examples/embcache.h).

   build/eval_match [--net resnet|nn4] [--weights DIR] [--net-blob FILE] [--lfw DIR] [--cache DIR] [--fold K]
   (tools/eval/eval_match.sh)

   --fold K keeps only the people of View 2 fold K (1-based; the folds share no one) and
   reports 2-4 on them alone: the open-set and clustering figures of a model trained without
   that fold's people (leave one fold out: tools/eval/relearn.sh eval). The verification of such
   models is scored by tools/eval/lofo_eval.py, so 1 is left out then.

   1. Verification threshold: LFW View 2 folds 1-3 (1,800 pairs). For each fold the threshold
      that maximises accuracy on the other folds, accuracy on the fold; their mean; the best
      single threshold on all pairs; accuracy at the shipped fnet_network_threshold().
   2. Identification (1:K), at the shipped identification threshold: gallery = the first photo of every person with >= 2 photos
      (450 people); known probes = their other photos (rank-1, rank-5, and detection-and-
      identification rate DIR: nearest is right AND accepted); unknown probes = the 791
      people with a single photo, not enrolled (false accept rate FAR: nearest accepted).
   3. Clustering of the photos of people with >= 5 photos: Chinese whispers at the shipped
      clustering threshold and k-means with k = number of people; pairwise precision (pairs put together
      that are the same person / pairs put together) and recall (same-person pairs put
      together / same-person pairs).
   4. Classifiers on the same people: every third photo (index % 3 == 2) is test, the rest
      train; softmax, MLP (64 hidden), 3-NN; test accuracy.
   2 and 3 also sweep the threshold (fractions of the verification threshold).
   One photo = its face nearest the image centre; no detection -> a central box (counted). */
#define _POSIX_C_SOURCE 200809L
#define FNET_IMPLEMENTATION
#include "facenet.h"
#include "examples/embcache.h" /* photos through examples/image_load.h */

#include <math.h>
#include <time.h>
#include <unistd.h>

/* sweeps, as fractions of the shipped verification threshold */
#define N_SWEEP 8
static const double sweep[N_SWEEP] = {0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 1.0};

static void pairwise_pr(const int *truth, const int *pred, int n, double *prec, double *rec) {
    long tp = 0, fp = 0, fn = 0;
    int i, j;
    for (i = 0; i < n; i++)
        for (j = i + 1; j < n; j++) {
            int s = truth[i] == truth[j], c = pred[i] == pred[j];
            tp += s && c;
            fp += !s && c;
            fn += s && !c;
        }
    *prec = tp + fp ? (double)tp / (tp + fp) : 1.0;
    *rec = tp + fn ? (double)tp / (tp + fn) : 1.0;
}

/* deepface's labelled pairs (master.subset.csv: "a,b,Yes|No"), the largest face of each
   image: accuracy at the verification threshold, and the largest "same" / smallest
   "different" distance (the margin a threshold has there). */
static void deepface_pairs(embcache *ec, const char *dir, double thr) {
    char path[2300], line[1024];
    FILE *f;
    int n = 0, right = 0, missing = 0;
    double max_same = 0, min_diff = 1e30;
    static ec_result ra, rb;
    snprintf(path, sizeof path, "%.2000s/master.subset.csv", dir);
    f = fopen(path, "r");
    if (!f) { printf("deepface pairs: %s absent, skipped\n", path); return; }
    while (fgets(line, sizeof line, f)) {
        char a[300], b[300], dec[16], pa[2400], pb[2400];
        int fa, fb, same;
        double d;
        line[strcspn(line, "\r\n")] = 0;
        if (sscanf(line, "%299[^,],%299[^,],%15s", a, b, dec) != 3 || !strcmp(dec, "Decision")) continue;
        snprintf(pa, sizeof pa, "%.2000s/%s", dir, a);
        snprintf(pb, sizeof pb, "%.2000s/%s", dir, b);
        if (!ec_image(ec, pa, &ra) || !ec_image(ec, pb, &rb) || (fa = ec_largest(&ra)) < 0 || (fb = ec_largest(&rb)) < 0) {
            missing++;
            continue;
        }
        same = !strcmp(dec, "Yes");
        d = fnet_distance(ra.face[fa].emb, rb.face[fb].emb, EC_DIM);
        n++;
        right += (d <= thr) == same;
        if (same && d > max_same) max_same = d;
        if (!same && d < min_diff) min_diff = d;
    }
    fclose(f);
    printf("deepface pairs (master.subset.csv): %d/%d right at %.4f (%d pairs without a face); largest same-person "
           "distance %.4f, smallest different-person %.4f\n",
           right, n, thr, missing, max_same, min_diff);
}

/* Keeps only the people named in fold `fold` (0-based) of pairs.txt; people who also appear
   in another fold are counted in *shared (LFW's folds share no one: 0 expected). */
static int keep_fold_people(ec_labelled *lab, const char *pairs_path, int fold, int *shared) {
    FILE *f = fopen(pairs_path, "r");
    char line[1024], n1[256], n2[256];
    int folds = 0, per = 0, k, i, i1, i2, np = 0, n = 0;
    int *in_fold = (int *)calloc((size_t)lab->n_people + 1, sizeof(int)), *in_other = (int *)calloc((size_t)lab->n_people + 1, sizeof(int));
    int *remap = (int *)malloc(((size_t)lab->n_people + 1) * sizeof(int));
    *shared = 0;
    if (!f || !in_fold || !in_other || !remap || !fgets(line, sizeof line, f) || sscanf(line, "%d %d", &folds, &per) != 2 ||
        fold < 0 || fold >= folds) {
        fprintf(stderr, "eval_match: cannot read the folds of %s (or no fold %d)\n", pairs_path, fold + 1);
        if (f) fclose(f);
        free(in_fold); free(in_other); free(remap);
        return 0;
    }
    for (k = 0; fgets(line, sizeof line, f); k++) {
        int nn = sscanf(line, "%255s %d %255s %d", n1, &i1, n2, &i2), which, p;
        if (nn != 4) { if (sscanf(line, "%255s %d %d", n1, &i1, &i2) != 3) continue; strcpy(n2, n1); }
        for (which = 0; which < 2; which++)
            for (p = 0; p < lab->n_people; p++)
                if (!strcmp(lab->people[p], which ? n2 : n1)) {
                    if (k / (2 * per) == fold) in_fold[p] = 1;
                    else in_other[p] = 1;
                }
    }
    fclose(f);
    for (i = 0; i < lab->n_people; i++) {
        *shared += in_fold[i] && in_other[i];
        remap[i] = in_fold[i] ? np : -1;
        if (in_fold[i]) { lab->people[np] = lab->people[i]; np++; }
        else free(lab->people[i]);
    }
    for (i = 0; i < lab->n; i++) {
        int l = remap[lab->label[i]];
        if (l < 0) { free(lab->paths[i]); continue; }
        lab->paths[n] = lab->paths[i];
        lab->label[n++] = l;
    }
    lab->n_people = np;
    lab->n = n;
    free(in_fold); free(in_other); free(remap);
    return 1;
}

int main(int argc, char **argv) {
    ec_lfw_opts o;
    char root[2048], pairs_path[2048];
    embcache ec;
    ec_labelled lab;
    float *x;
    int *ok, i, j, n_fb = 0, *count, n_pairs, folds;
    ec_pair *pairs;
    double *dist = NULL, thr_ship, thr_id, thr_cl;
    int only_fold = 0;
    ec_lfw_opts_init(&o);
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--fold") && i + 1 < argc) {
            only_fold = atoi(argv[++i]);
            if (only_fold < 1) { fprintf(stderr, "eval_match: --fold takes 1, 2, ...\n"); return 2; }
            continue;
        }
        if (!ec_lfw_option(&o, argc, argv, &i)) {
            fprintf(stderr, "usage: eval_match [--net resnet|nn4] [--weights DIR] [--net-blob FILE] [--lfw DIR] [--cache DIR] [--fold K]\n");
            return 2;
        }
    }
    ec_lfw_paths(o.lfw, root, sizeof root, pairs_path, sizeof pairs_path);
    if (!ec_open_blob(&ec, o.weights, o.net, o.net_blob, o.cache)) return 1;
    ec.centre_fallback = 1;
    if (!ec_labelled_dir(root, &lab)) return 1;
    if (only_fold) {
        int shared;
        if (!keep_fold_people(&lab, pairs_path, only_fold - 1, &shared)) return 1;
        printf("fold %d only: %d people, %d photos (%d of them also in another fold)\n", only_fold, lab.n_people, lab.n, shared);
        if (shared) { fprintf(stderr, "eval_match: the folds share people: leave-one-fold-out is not honest here\n"); return 1; }
    }
    {
        struct timespec t0, t1;
        double ms;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (!ec_embed_all(&ec, &lab, 1, &x, &ok, &n_fb)) return 1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
        printf("network %s (%s): %d photos of %d people, %d without detection (central box), %d computed "
               "(%.0f ms each), %d from cache\n",
               ec.network_id, o.net, lab.n, lab.n_people, n_fb, ec.misses, ec.misses ? ms / ec.misses : 0.0, ec.hits);
    }
    for (i = 0; i < lab.n; i++)
        if (!ok[i]) { fprintf(stderr, "%s: no embedding\n", lab.paths[i]); return 1; }
    thr_ship = fnet_network_threshold(ec.network_id);
    thr_id = fnet_network_threshold_for(ec.network_id, FNET_THRESHOLD_IDENTIFY);
    thr_cl = fnet_network_threshold_for(ec.network_id, FNET_THRESHOLD_CLUSTER);

    /* 1. verification */
    pairs = NULL;
    if (!only_fold && access(pairs_path, R_OK) != 0) {
        printf("no %s: verification skipped (a folder without View 2 pairs, e.g. the training pool)\n", pairs_path);
        only_fold = -1;
    }
    if (!only_fold) {
        folds = ec_lfw_pairs(pairs_path, root, &lab, &pairs, &n_pairs);
        dist = (double *)malloc((size_t)n_pairs * sizeof(double));
        for (i = 0; i < n_pairs; i++) dist[i] = fnet_distance(x + (size_t)pairs[i].a * EC_DIM, x + (size_t)pairs[i].b * EC_DIM, EC_DIM);
        {
            double sum = 0, sum2 = 0, tsum = 0, t_all, acc_all;
            for (i = 0; i < folds; i++) {
                double t, acc;
                ec_best_threshold(dist, pairs, n_pairs, i, &t);
                acc = ec_accuracy(dist, pairs, n_pairs, i, t);
                printf("  fold %d: threshold %.4f (from the other folds), accuracy %.2f%%\n", i + 1, t, 100 * acc);
                sum += acc;
                sum2 += acc * acc;
                tsum += t;
            }
            acc_all = ec_best_threshold(dist, pairs, n_pairs, -1, &t_all);
            printf("verification (LFW dev, %d pairs, %d folds): %.2f%% +- %.2f (held-out folds), mean threshold %.4f; "
                   "best single threshold %.4f (%.2f%%); at the shipped %.4f: %.2f%%\n",
                   n_pairs, folds, 100 * sum / folds, 100 * sqrt(fmax(0, sum2 / folds - (sum / folds) * (sum / folds))),
                   tsum / folds, t_all, 100 * acc_all, thr_ship, 100 * ec_accuracy(dist, pairs, n_pairs, -1, thr_ship));
        }

        {
            char dp[2100];
            ec_shared_path("data/deepface-testset", dp, sizeof dp);
            deepface_pairs(&ec, dp, thr_ship);
        }
    }

    /* 2. identification */
    count = (int *)calloc((size_t)lab.n_people, sizeof(int));
    for (i = 0; i < lab.n; i++) count[lab.label[i]]++;
    {
        fnet_gallery *g = NULL;
        int *person_of = (int *)malloc((size_t)lab.n_people * sizeof(int)); /* label -> gallery index */
        int known = 0, r1 = 0, r5 = 0, dir_ok = 0, unknown = 0, fa = 0, prev = -1, s;
        int sw_dir[8] = {0}, sw_fa[8] = {0};
        double *kd = (double *)malloc((size_t)lab.n * sizeof(double)), *ud = (double *)malloc((size_t)lab.n * sizeof(double));
        fnet_match m[5];
        fnet_gallery_create(ec.network_id, EC_DIM, &g);
        for (i = 0; i < lab.n; i++) {
            int l = lab.label[i];
            if (l != prev && count[l] >= 2) {
                fnet_gallery_enroll(g, lab.people[l], x + (size_t)i * EC_DIM, 1);
                person_of[l] = fnet_gallery_count(g) - 1;
            }
            prev = l;
        }
        prev = -1;
        for (i = 0; i < lab.n; i++) {
            int l = lab.label[i], nm = 0, first = l != prev;
            prev = l;
            if (count[l] >= 2 && first) continue; /* the enrolled photo */
            fnet_identify(g, x + (size_t)i * EC_DIM, EC_DIM, (float)thr_id, m, 5, &nm);
            if (count[l] >= 2) {
                kd[known] = m[0].person == person_of[l] ? m[0].distance : -1.0; /* -1: nearest is someone else */
                known++;
                r1 += m[0].person == person_of[l];
                for (j = 0; j < nm; j++) r5 += m[j].person == person_of[l];
                dir_ok += m[0].person == person_of[l] && m[0].accepted;
                for (s = 0; s < N_SWEEP; s++) sw_dir[s] += m[0].person == person_of[l] && m[0].distance <= sweep[s] * thr_ship;
            } else {
                ud[unknown] = m[0].distance;
                unknown++;
                fa += m[0].accepted;
                for (s = 0; s < N_SWEEP; s++) sw_fa[s] += m[0].distance <= sweep[s] * thr_ship;
            }
        }
        printf("identification (gallery %d people, 1 photo each): known probes %d: rank-1 %.2f%%, rank-5 %.2f%%, "
               "DIR at %.4f %.2f%%; unknown probes %d: FAR %.2f%%\n",
               fnet_gallery_count(g), known, 100.0 * r1 / known, 100.0 * r5 / known, thr_id, 100.0 * dir_ok / known,
               unknown, 100.0 * fa / unknown);
        printf("  open set, threshold: DIR / FAR:");
        for (s = 0; s < N_SWEEP; s++)
            printf("  %.3f: %.1f%% / %.1f%%", sweep[s] * thr_ship, 100.0 * sw_dir[s] / known, 100.0 * sw_fa[s] / unknown);
        printf("\n");
        if (unknown >= 100) { /* the calibration of FNET_THRESHOLD_IDENTIFY: about 1% false accepts */
            int a = unknown / 100, ok1 = 0;
            double t;
            qsort(ud, (size_t)unknown, sizeof(double), ec__dcmp);
            t = a > 0 ? 0.5 * (ud[a - 1] + ud[a]) : ud[0] * 0.999;
            for (i = 0; i < known; i++) ok1 += kd[i] >= 0 && kd[i] <= t;
            printf("  threshold for FAR <= 1%%: %.4f (%d of %d unknown probes accepted), DIR there %.2f%%\n", t, a, unknown,
                   100.0 * ok1 / known);
        }
        free(kd);
        free(ud);
        fnet_gallery_free(g);
        free(person_of);
    }

    /* 3 + 4: people with >= 5 photos */
    {
        int n5 = 0, k5 = 0, *truth, *pred, nc = 0, *remap = (int *)malloc((size_t)lab.n_people * sizeof(int));
        float *x5;
        double p, r;
        for (i = 0; i < lab.n_people; i++) remap[i] = count[i] >= 5 ? k5++ : -1;
        for (i = 0; i < lab.n; i++) n5 += remap[lab.label[i]] >= 0;
        x5 = (float *)malloc((size_t)n5 * EC_DIM * sizeof(float));
        truth = (int *)malloc((size_t)n5 * sizeof(int));
        pred = (int *)malloc((size_t)n5 * sizeof(int));
        for (i = 0, j = 0; i < lab.n; i++)
            if (remap[lab.label[i]] >= 0) {
                memcpy(x5 + (size_t)j * EC_DIM, x + (size_t)i * EC_DIM, EC_DIM * sizeof(float));
                truth[j++] = remap[lab.label[i]];
            }
        fnet_chinese_whispers(x5, n5, EC_DIM, (float)thr_cl, 0, 1, NULL, 0, pred, &nc);
        pairwise_pr(truth, pred, n5, &p, &r);
        printf("clustering %d photos of %d people (>= 5 photos each): Chinese whispers at %.4f: %d clusters, pairwise "
               "precision %.3f recall %.3f;",
               n5, k5, thr_cl, nc, p, r);
        fnet_kmeans(x5, n5, EC_DIM, k5, 0, 1, NULL, 0, pred, NULL);
        pairwise_pr(truth, pred, n5, &p, &r);
        printf(" k-means++ (k=%d): precision %.3f recall %.3f\n", k5, p, r);
        printf("  Chinese whispers, threshold: clusters P R:");
        for (j = 0; j < N_SWEEP; j++) {
            fnet_chinese_whispers(x5, n5, EC_DIM, (float)(sweep[j] * thr_ship), 0, 1, NULL, 0, pred, &nc);
            pairwise_pr(truth, pred, n5, &p, &r);
            printf("  %.3f: %d %.3f %.3f", sweep[j] * thr_ship, nc, p, r);
        }
        printf("\n");
        {   /* the calibration of FNET_THRESHOLD_CLUSTER: best pairwise F1 on a grid of 0.005 */
            double best_f1 = -1, best_t = 0, bp = 0, br = 0, t;
            int best_nc = 0;
            for (t = 0.3 * thr_ship; t <= 1.2 * thr_ship; t += 0.005) {
                double f1;
                fnet_chinese_whispers(x5, n5, EC_DIM, (float)t, 0, 1, NULL, 0, pred, &nc);
                pairwise_pr(truth, pred, n5, &p, &r);
                f1 = p + r > 0 ? 2 * p * r / (p + r) : 0;
                if (f1 > best_f1) { best_f1 = f1; best_t = t; bp = p; br = r; best_nc = nc; }
            }
            printf("  best pairwise F1 %.3f at %.4f (%d clusters, precision %.3f recall %.3f)\n", best_f1, best_t, best_nc, bp, br);
        }

        /* classifiers: every third photo of a person is test */
        {
            float *xtr = (float *)malloc((size_t)n5 * EC_DIM * sizeof(float)), *xte = (float *)malloc((size_t)n5 * EC_DIM * sizeof(float));
            int *ytr = (int *)malloc((size_t)n5 * sizeof(int)), *yte = (int *)malloc((size_t)n5 * sizeof(int));
            int ntr = 0, nte = 0, idx = 0, kind;
            for (i = 0; i < n5; i++) {
                idx = (i > 0 && truth[i] == truth[i - 1]) ? idx + 1 : 0;
                if (idx % 3 == 2) { memcpy(xte + (size_t)nte * EC_DIM, x5 + (size_t)i * EC_DIM, EC_DIM * 4); yte[nte++] = truth[i]; }
                else { memcpy(xtr + (size_t)ntr * EC_DIM, x5 + (size_t)i * EC_DIM, EC_DIM * 4); ytr[ntr++] = truth[i]; }
            }
            printf("classifiers (%d classes, %d train, %d test photos):", k5, ntr, nte);
            for (kind = 1; kind <= 3; kind++) {
                fnet_classifier *c = NULL;
                fnet_train_opts o;
                int right = 0, l;
                fnet_result res;
                memset(&o, 0, sizeof o);
                o.seed = 1;
                res = fnet_classifier_train((fnet_classifier_kind)kind, ec.network_id, xtr, ytr, ntr, EC_DIM, k5, &o, &c);
                if (res != FNET_OK) { printf(" train failed: %s", fnet_result_string(res)); continue; }
                for (i = 0; i < nte; i++) {
                    fnet_classifier_predict(c, xte + (size_t)i * EC_DIM, EC_DIM, &l, NULL);
                    right += l == yte[i];
                }
                printf(" %s %.1f%%", kind == 1 ? "softmax" : kind == 2 ? "MLP" : "3-NN", 100.0 * right / nte);
                fnet_classifier_free(c);
            }
            printf("\n");
            free(xtr); free(xte); free(ytr); free(yte);
        }
        free(x5); free(truth); free(pred); free(remap);
    }
    free(count);
    free(dist);
    free(pairs);
    free(x);
    free(ok);
    ec_labelled_free(&lab);
    ec_close(&ec);
    return 0;
}
