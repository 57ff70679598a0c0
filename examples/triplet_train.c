/* triplet_train - trains a small head on top of frozen facenet.h embeddings with the
   triplet loss (FaceNet, Schroff et al. 2015) and prints LFW verification accuracy before and
   after, on identities the head never saw.

   build/triplet_train [--net resnet|nn4] [--mining semi|hard|all] [--steps N] [--lr LR]
                       [--weights DIR] [--lfw DIR] [--cache DIR] [--seed S]

   Data: ../shared/data/lfw-dev (LFW View 2 folds 1-3: 1,241 people, 2,320 photos, 1,800
   pairs); embeddings through the whole pipeline, cached under build/embcache.
   The folds of LFW View 2 have no person in common, so for each fold k: the head is trained
   on the photos of the people of the other folds, the threshold is chosen on the other folds'
   pairs, and accuracy is measured on fold k's pairs (people the head never saw). Reported:
   per fold and mean, "before" (the L2-normalised embeddings) and "after" (the head).

   Head: y = normalize(W x), W 128x128 starting at the identity. Each step draws P = 32 people
   with >= 2 photos and up to K = 4 photos of each, selects triplets on y (semi-hard by
   default, alpha 0.2), takes dL/dy from fnet_triplet_loss, back-propagates through the
   normalisation (dL/dz = (g - y (y.g)) / ||z||) and the linear map (dL/dW = dL/dz x^T),
   adds the gradient of 1e-3 * ||W - I||^2 (keeps the head near the identity on little data)
   and takes an Adam step (defaults: ResNet 100 steps at 1e-4, nn4 400 steps at 1e-3).

   Measured with facenet.h's pipeline (seed 1, semi-hard): ResNet 98.11% -> 98.22%;
   nn4 (the filled blob) 69.72% -> 79.22%. */
#define _POSIX_C_SOURCE 200809L
#define FNET_IMPLEMENTATION
#include "facenet.h"
#include "embcache.h" /* photos through image_load.h */

#include <math.h>

#define D EC_DIM
#define P_PEOPLE 32
#define K_PHOTOS 4
#define BATCH (P_PEOPLE * K_PHOTOS)

static void head_apply(const float *W, const float *x, float *z, float *y) {
    int i, j;
    double s = 0;
    for (i = 0; i < D; i++) {
        double a = 0;
        for (j = 0; j < D; j++) a += (double)W[i * D + j] * x[j];
        z[i] = (float)a;
        s += a * a;
    }
    s = sqrt(s > 1e-24 ? s : 1e-24);
    for (i = 0; i < D; i++) y[i] = (float)(z[i] / s);
}

/* Mean held-out accuracy with the head W (NULL: normalised embeddings). */
static double evaluate(const float *W, const float *x, int n, const ec_pair *pairs, int n_pairs, int fold,
                       double *thr_out) {
    float *y = (float *)malloc((size_t)n * D * sizeof(float)), z[D];
    double *dist = (double *)malloc((size_t)n_pairs * sizeof(double)), t, acc;
    int i;
    for (i = 0; i < n; i++) {
        if (W) head_apply(W, x + (size_t)i * D, z, y + (size_t)i * D);
        else {
            memcpy(y + (size_t)i * D, x + (size_t)i * D, D * sizeof(float));
            fnet_l2_normalize(y + (size_t)i * D, D);
        }
    }
    for (i = 0; i < n_pairs; i++) dist[i] = fnet_distance(y + (size_t)pairs[i].a * D, y + (size_t)pairs[i].b * D, D);
    ec_best_threshold(dist, pairs, n_pairs, fold, &t);
    acc = ec_accuracy(dist, pairs, n_pairs, fold, t);
    if (thr_out) *thr_out = t;
    free(y);
    free(dist);
    return acc;
}

int main(int argc, char **argv) {
    const char *mining_name = "semi";
    ec_lfw_opts o;
    fnet_triplet_mining mining = FNET_TRIPLET_SEMI_HARD;
    int steps = -1, i, k, folds, n_pairs, *ok, *fold_of;
    float lr = -1.0f;
    unsigned long long seed = 1;
    char root[2100], pairs_path[2100];
    embcache ec;
    ec_labelled lab;
    float *x;
    ec_pair *pairs;
    double sum_before = 0, sum_after = 0;
    ec_lfw_opts_init(&o);
    for (i = 1; i < argc; i++) {
        if (ec_lfw_option(&o, argc, argv, &i)) continue;
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lr") && i + 1 < argc) lr = (float)atof(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--mining") && i + 1 < argc) {
            mining_name = argv[++i];
            mining = !strcmp(mining_name, "hard") ? FNET_TRIPLET_HARD
                   : !strcmp(mining_name, "all") ? FNET_TRIPLET_BATCH_ALL : FNET_TRIPLET_SEMI_HARD;
        } else {
            fprintf(stderr, "usage: triplet_train [--net resnet|nn4] [--mining semi|hard|all] [--steps N] [--lr LR] "
                            "[--weights DIR] [--lfw DIR] [--cache DIR] [--seed S]\n");
            return 2;
        }
    }
    /* defaults: a strong embedding (ResNet, 98% on LFW) only takes a nudge before the head
       overfits ~300 training people (1e-3 x 400 steps: 98.1% -> 97.4%); the weak filled nn4
       has much to gain from a longer run */
    if (steps == -1) steps = strcmp(o.net, "nn4") == 0 ? 400 : 100;
    if (lr == -1.0f) lr = strcmp(o.net, "nn4") == 0 ? 1e-3f : 1e-4f;
    if (steps < 0 || !(lr > 0)) { fprintf(stderr, "triplet_train: bad --steps or --lr\n"); return 2; }
    ec_lfw_paths(o.lfw, root, sizeof root, pairs_path, sizeof pairs_path);
    if (!ec_open(&ec, o.weights, o.net, o.cache)) return 1;
    ec.centre_fallback = 1;
    if (!ec_labelled_dir(root, &lab) || lab.n == 0) { fprintf(stderr, "triplet_train: no photos in %s\n", root); return 1; }
    if (!ec_embed_all(&ec, &lab, 1, &x, &ok, NULL)) return 1;
    folds = ec_lfw_pairs(pairs_path, root, &lab, &pairs, &n_pairs);
    if (folds < 2) { fprintf(stderr, "triplet_train: need >= 2 folds in %s\n", pairs_path); return 1; }
    /* each person's fold (the folds share no one) */
    fold_of = (int *)malloc((size_t)lab.n_people * sizeof(int));
    for (i = 0; i < lab.n_people; i++) fold_of[i] = -1;
    for (i = 0; i < n_pairs; i++) {
        fold_of[lab.label[pairs[i].a]] = pairs[i].fold;
        fold_of[lab.label[pairs[i].b]] = pairs[i].fold;
    }
    printf("triplet head on %s (%s) embeddings, %s mining, alpha 0.2, %d steps of %d photos, Adam lr %g\n",
           ec.network_id, o.net, mining_name, steps, BATCH, lr);
    for (k = 0; k < folds; k++) {
        /* training people: other folds, >= 2 photos; their photo ranges in lab (sorted) */
        int *start = (int *)malloc((size_t)lab.n_people * sizeof(int)), *cnt = (int *)calloc((size_t)lab.n_people, sizeof(int));
        int *people = (int *)malloc((size_t)lab.n_people * sizeof(int)), n_people = 0, s, q;
        float *W = (float *)calloc(D * D, sizeof(float)), *m = (float *)calloc(D * D, sizeof(float));
        float *v = (float *)calloc(D * D, sizeof(float)), *gW = (float *)malloc(D * D * sizeof(float));
        float xb[BATCH * D], zb[BATCH * D], yb[BATCH * D], gy[BATCH * D];
        int lb[BATCH];
        fnet_triplet *trip = (fnet_triplet *)malloc(sizeof(fnet_triplet) * BATCH * BATCH * 4);
        unsigned long long rng = seed + 1000003ULL * (unsigned long long)k;
        double before, after, tb, ta, b1t = 1, b2t = 1, loss_sum = 0;
        int loss_n = 0;
        for (i = lab.n - 1; i >= 0; i--) { start[lab.label[i]] = i; cnt[lab.label[i]]++; }
        for (i = 0; i < lab.n_people; i++)
            if (fold_of[i] != k && fold_of[i] >= 0 && cnt[i] >= 2) people[n_people++] = i;
        for (i = 0; i < D; i++) W[i * D + i] = 1.0f;
        before = evaluate(NULL, x, lab.n, pairs, n_pairs, k, &tb);
        for (s = 0; s < steps; s++) {
            int nb = 0, nt = 0, na = 0, p;
            float loss = 0;
            /* P random people (Fisher-Yates prefix), up to K random photos each */
            for (p = 0; p < P_PEOPLE && p < n_people; p++) {
                int j = p + (int)fnet__rng_below(&rng, (unsigned)(n_people - p)), t = people[p], c, taken[K_PHOTOS], nk;
                people[p] = people[j];
                people[j] = t;
                c = people[p];
                nk = cnt[c] < K_PHOTOS ? cnt[c] : K_PHOTOS;
                for (q = 0; q < nk; q++) {
                    int r, dup;
                    do {
                        r = (int)fnet__rng_below(&rng, (unsigned)cnt[c]);
                        dup = 0;
                        for (i = 0; i < q; i++) dup |= taken[i] == r;
                    } while (dup);
                    taken[q] = r;
                    memcpy(xb + (size_t)nb * D, x + (size_t)(start[c] + r) * D, D * sizeof(float));
                    lb[nb++] = c;
                }
            }
            for (i = 0; i < nb; i++) head_apply(W, xb + (size_t)i * D, zb + (size_t)i * D, yb + (size_t)i * D);
            fnet_triplet_select(yb, lb, nb, D, 0.2f, mining, trip, BATCH * BATCH * 4, &nt);
            if (nt > BATCH * BATCH * 4) nt = BATCH * BATCH * 4;
            if (nt == 0) continue;
            fnet_triplet_loss(yb, nb, D, trip, nt, 0.2f, &loss, gy, &na);
            loss_sum += loss;
            loss_n++;
            /* back through y = z / ||z|| and z = W x */
            for (i = 0; i < D * D; i++) gW[i] = 2e-3f * (W[i] - (i % (D + 1) == 0 ? 1.0f : 0.0f));
            for (i = 0; i < nb; i++) {
                const float *y = yb + (size_t)i * D, *g = gy + (size_t)i * D, *z = zb + (size_t)i * D, *xi = xb + (size_t)i * D;
                double yg = 0, zn = 0;
                float dz[D];
                int a, b;
                for (a = 0; a < D; a++) { yg += (double)y[a] * g[a]; zn += (double)z[a] * z[a]; }
                zn = sqrt(zn > 1e-24 ? zn : 1e-24);
                for (a = 0; a < D; a++) dz[a] = (float)((g[a] - y[a] * yg) / zn);
                for (a = 0; a < D; a++)
                    if (dz[a] != 0.0f)
                        for (b = 0; b < D; b++) gW[a * D + b] += dz[a] * xi[b];
            }
            b1t *= 0.9;
            b2t *= 0.999;
            for (i = 0; i < D * D; i++) {
                m[i] = 0.9f * m[i] + 0.1f * gW[i];
                v[i] = 0.999f * v[i] + 0.001f * gW[i] * gW[i];
                W[i] -= (float)(lr * (m[i] / (1 - b1t)) / (sqrt(v[i] / (1 - b2t)) + 1e-8));
            }
            if ((s + 1) % 100 == 0)
                fprintf(stderr, "fold %d step %d: mean loss %.4f (%d triplets, %d active)\n", k + 1, s + 1,
                        loss_n ? loss_sum / loss_n : 0.0, nt, na);
            if ((s + 1) % 100 == 0) { loss_sum = 0; loss_n = 0; }
        }
        after = evaluate(W, x, lab.n, pairs, n_pairs, k, &ta);
        printf("fold %d: %d training people; held-out accuracy before %.2f%% (threshold %.3f), after %.2f%% (threshold "
               "%.3f)\n",
               k + 1, n_people, 100 * before, tb, 100 * after, ta);
        sum_before += before;
        sum_after += after;
        free(start); free(cnt); free(people); free(W); free(m); free(v); free(gW); free(trip);
    }
    printf("mean over %d folds: before %.2f%%, after %.2f%%\n", folds, 100 * sum_before / folds, 100 * sum_after / folds);
    free(fold_of);
    free(pairs);
    free(x);
    free(ok);
    ec_labelled_free(&lab);
    ec_close(&ec);
    return 0;
}
