/* fnet CLI: fnet train, FaceNet-style training of a network's tensors (included by
   examples/fnet.c after cli_lfw.h and cli_match.h, whose helpers it uses).

   fnet train --net nn4|resnet --trainable LIST --data LIST.txt|FOLDER --out OUT.fnet [options]

   Data. LIST.txt holds lines "person<TAB>path" ('#' starts a comment); a relative path is
   taken from the list's folder, or, when the list's first paths are not there, from the
   nearest parent folder where they are (the shared lfw-train/images.txt gives its paths from
   its parent, shared/data). FOLDER holds FOLDER/PERSON/IMAGE.jpg. Every image goes through the
   header's pipeline once: detect (upsample 1) -> the face at the image centre (as eval-lfw:
   of the boxes that contain the image centre, the one whose centre is nearest it; with
   --pick single also an image's only face when it is elsewhere, for photos not centred on
   their person) -> 68 landmarks -> align with the network's alignment (nn4: OpenFace's
   outer eyes and nose, 96 px; ResNet: dlib's chip, 150 px); the chips stay in memory. A
   missing file, an unreadable image, or one without a face (at the centre) is skipped and
   counted. People with one usable image only serve as negatives.

   Split. --val-fraction F (0.1) of the people with two or more images, chosen by the seed, are
   held aside. After every epoch (and once before the first) the current network embeds their
   chips (fnet_trainer_model + fnet_embed): every same-person pair and as many random
   different-person pairs (drawn once, by the seed), accuracy at the best threshold.

   Batches as FaceNet builds them. An epoch shuffles the training people with >= 2 images and
   takes them --people P at a time; each brings --per-person K of its images (all when it has
   fewer; a random choice otherwise); the batch is then filled up to --batch with one-image
   people (negatives). fnet_trainer_step_triplet mines triplets online in the batch (alpha
   --alpha 0.2; --mining semihard, or hard for batch-hard) and takes one optimizer step. The
   order comes from a splitmix64 generator seeded by --seed and the epoch alone, so a run is
   reproducible, and resumable at any epoch.

   Augmentation. --jitter N uses N perturbed copies of each training chip (dlib's
   jitter_image, mirror included: examples/jitter.h), copy v of image i drawn from its own
   seed (the run's seed, i, v); epoch e uses copy e mod N (0: the chips as aligned).

   Leave one fold out. --exclude-pairs PAIRS --exclude-fold K drops, before any image is read,
   every image of every person named in fold K (1 for the first) of an LFW pairs.txt (both
   names of a mismatched pair), so that fold K can be scored by a model that never saw its
   people (make relearn-eval, tools/eval/lofo_eval.py).

   Chip cache. --cache DIR keeps each usable image's chip (and, with --distill, its teacher
   embedding) in DIR, one file per image named by FNV-1a of its path, size and mtime and the
   alignment and blobs; a later run reads them instead of detecting and aligning again (the
   bytes are the same, so are the weights). Empty DIR after changing the pipeline's code.

   Distillation and the initial fill. --distill resnet embeds each image's dlib chip (150 px,
   from the same landmarks) with the ResNet-34 blob once, while preparing. --loss both (the
   default with --distill) minimises triplet + W * fnet_distill_loss over the same batch
   (--distill-weight W, 1), --loss distill W * the distillation term alone: one forward, the
   two gradients summed, one backward and update; batches, jitter and order are those of the
   triplet run. --init he|zeros starts the trainable tensors afresh (fnet_trainer_init_weights,
   seeded by --seed) instead of keeping the blob's values (keep).

   Frozen prefix. The ops that no trainable tensor influences compute the same outputs every
   epoch, so each (image, copy) goes through them once, when a batch first uses it
   (fnet_trainer_frontier, in parallel over the batch's images), into a cache of
   frontier_size floats per (image, copy); steps start from there (from_frontier = 1). An
   epoch uses about half the images (K of a person's many), so the cache fills over the first
   epochs instead of costing a whole pass before the first step. --no-cache runs the whole
   network every step instead (to compare: the weights come out byte-identical).

   Threads. --threads N runs the preprocessing, the frontiers, the validation embeddings and the
   trainer's batch (opts.parallel_for) on a pool of N threads (examples/thread_pool.h). Every
   result is the same for any N: images are independent, the generator runs on one thread,
   and the trainer sums its gradient slots (a fixed count, TR_GRAD_SLOTS) in order.

   Checkpoints. --checkpoint CKPT writes, after every epoch, the trainer's state
   (fnet_trainer_save_state: trainable tensors, optimizer state, step count) with the CLI's
   position (epochs done, generator state, loss and accuracy history) and a hash of the
   settings and data, through CKPT.tmp and a rename. --resume CKPT continues that run (same
   options and data, else refused) and ends with the weights an uninterrupted run ends with.
   --stop-after E stops after epoch E as an interruption would (the checkpoint written, no
   output). A loss that is not finite, or an update that refuses non-finite weights, stops
   the run: the step is named, the last good checkpoint kept, nothing written, exit 1.

   Output. OUT.fnet (fnet_trainer_save_blob_file: written to a temporary name, then renamed)
   with the metadata network (--network-id; default the original id + "+trained"),
   train_data (the data path and image counts), train_seed and train_args (the options that
   decide the weights: not --threads, --out, --checkpoint, --resume, --stop-after, --plot,
   --log-every, so that those runs give byte-identical blobs). --plot OUT.png draws the loss
   of every step, each epoch's mean and the validation accuracy (examples/roc_plot.h's
   drawing). Progress every --log-every N steps on stderr (a line each, or one line
   rewritten with \r on a terminal); one JSON summary on stdout. */
#include "jitter.h"
#include "thread_pool.h"

#include <math.h>

#define TR_GRAD_SLOTS 8     /* the trainer's gradient accumulators: fixed, so --threads never changes a result */
#define TR_CHUNK 64         /* images per progress report while preparing */
#define TR_SHOW_SKIPPED 5   /* skipped images named on stderr */
#define TR_CKPT_MAGIC "FNETTRCK"
#define TR_CKPT_VERSION 1u

static int tr__usage(const char *msg) {
    return usage_text(msg,
            "usage: fnet train --net nn4|resnet --trainable LIST --data LIST.txt|FOLDER --out OUT.fnet [options]\n"
            "  --trainable LIST    tensors to learn: comma-separated names, '*' wildcards ('.' and '_' alike;\n"
            "                      `fnet info` lists them), \"*\" for every conv and dense tensor\n"
            "  --data LIST.txt     lines \"person<TAB>path\"; or FOLDER/PERSON/*.jpg\n"
            "  --epochs N (10)  --batch N (64)  --people P (12)  --per-person K (4)\n"
            "  --lr X (the optimizer's default)  --optimizer adam|sgd|adagrad  --weight-decay X (0)\n"
            "  --schedule constant|cosine|step (step: x0.1 at each third of the run)\n"
            "  --alpha A (0.2)  --mining semihard|hard  --jitter N (0)  --seed S (1)  --threads N (1)\n"
            "  --val-fraction F (0.1)  --plot OUT.png  --log-every N (10)  --no-cache\n"
            "  --checkpoint CKPT  --resume CKPT  --stop-after E\n"
            "  --net-blob PATH (start from this blob)  --network-id ID (default: original id + \"+trained\")\n"
            "  --exclude-pairs PAIRS --exclude-fold K  leave out every person of fold K (1..) of an LFW pairs.txt\n"
            "  --cache DIR         keep each image's chip (and teacher embedding) in DIR for the next runs\n"
            "  --distill resnet  --distill-weight W (1)  --loss triplet|distill|both (both with --distill)\n"
            "  --init keep|he|zeros (keep: the blob's values)\n"
            "  --pick centre|single  the face of a photo: the one at the image centre (LFW's rule), or\n"
            "                      also the only face found when it is elsewhere (photos not centred)\n");
}

/* ---- options ---- */
typedef struct tr_opts {
    const char *net, *trainable, *data, *out, *resume, *checkpoint, *plot, *net_blob, *network_id;
    const char *optimizer_name, *schedule_name, *mining_name;
    const char *exclude_pairs, *cache_dir, *distill, *loss_name, *init_name;
    int exclude_fold;
    int pick_single; /* --pick single: an image's only face also when it is off the centre */
    int loss_mode;   /* TR_LOSS_*: what the step minimises */
    int init_kind;   /* 0: keep the blob's values, else fnet_init */
    float distill_weight;
    int epochs, batch, people, per_person, jitter, threads, no_cache, log_every, stop_after, batch_set;
    float lr, weight_decay, alpha, val_fraction;
    fnet_optimizer optimizer;
    fnet_lr_schedule schedule;
    fnet_triplet_mining mining;
    unsigned long long seed;
    char args[4096]; /* train_args: the options that decide the weights */
} tr_opts;

static int tr__float(const char *s, float lo, float hi, float *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) return 0;
    *out = (float)v;
    return 1;
}

/* Appends " a" (quoted when it holds a space or a quote) to o->args. */
static void tr__arg(tr_opts *o, const char *a) {
    size_t n = strlen(o->args);
    int quote = strpbrk(a, " \t'\"\\") != NULL || !*a;
    snprintf(o->args + n, sizeof o->args - n, quote ? " '%s'" : " %s", a);
}

enum { TR_LOSS_TRIPLET = 0, TR_LOSS_DISTILL = 1, TR_LOSS_BOTH = 2 };

/* Returns -1 when the options are good, else the exit code (usage printed). */
static int tr__parse(int argc, char **argv, tr_opts *o) {
    int i;
    memset(o, 0, sizeof *o);
    o->net = "resnet";
    o->epochs = 10;
    o->batch = 64;
    o->people = 12;
    o->per_person = 4;
    o->threads = 1;
    o->log_every = 10;
    o->alpha = 0.2f;
    o->val_fraction = 0.1f;
    o->seed = 1;
    o->optimizer_name = "adam";
    o->schedule_name = "constant";
    o->mining_name = "semihard";
    o->mining = FNET_TRIPLET_SEMI_HARD;
    o->distill_weight = 1.0f;
    o->loss_mode = -1;
    o->init_name = "keep";
    snprintf(o->args, sizeof o->args, "fnet train");
    for (i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int decides = 1; /* the option decides the weights: recorded in train_args */
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            tr__usage(NULL);
            return 0;
        }
        if (strcmp(a, "--no-cache") == 0) {
            o->no_cache = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) return tr__usage("train takes only options (--data LIST.txt|FOLDER)");
        if (!v) {
            fprintf(stderr, "fnet: train: %s needs a value\n", a);
            return tr__usage(NULL);
        }
        i++;
        if (strcmp(a, "--net") == 0) {
            o->net = v;
            if (strcmp(v, "nn4") && strcmp(v, "resnet")) return tr__usage("--net takes nn4 or resnet");
        } else if (strcmp(a, "--trainable") == 0) {
            o->trainable = v;
        } else if (strcmp(a, "--data") == 0) {
            o->data = v;
        } else if (strcmp(a, "--out") == 0) {
            o->out = v;
            decides = 0;
        } else if (strcmp(a, "--epochs") == 0) {
            if (!parse_int(v, &o->epochs) || o->epochs < 1 || o->epochs > 100000) return tr__usage("--epochs takes 1 to 100000");
        } else if (strcmp(a, "--batch") == 0) {
            if (!parse_int(v, &o->batch) || o->batch < 3 || o->batch > 4096) return tr__usage("--batch takes 3 to 4096");
            o->batch_set = 1;
        } else if (strcmp(a, "--people") == 0) {
            if (!parse_int(v, &o->people) || o->people < 1 || o->people > 4096) return tr__usage("--people takes 1 to 4096");
        } else if (strcmp(a, "--per-person") == 0) {
            if (!parse_int(v, &o->per_person) || o->per_person < 2 || o->per_person > 4096)
                return tr__usage("--per-person takes 2 to 4096");
        } else if (strcmp(a, "--lr") == 0) {
            if (!tr__float(v, 1e-12f, 1e6f, &o->lr)) return tr__usage("--lr takes a number above 0, at most 1e6");
        } else if (strcmp(a, "--weight-decay") == 0) {
            if (!tr__float(v, 0.0f, 1e6f, &o->weight_decay)) return tr__usage("--weight-decay takes 0 to 1e6");
        } else if (strcmp(a, "--alpha") == 0) {
            if (!tr__float(v, 0.0f, 100.0f, &o->alpha)) return tr__usage("--alpha takes 0 to 100");
        } else if (strcmp(a, "--val-fraction") == 0) {
            if (!tr__float(v, 0.0f, 0.9f, &o->val_fraction)) return tr__usage("--val-fraction takes 0 to 0.9");
        } else if (strcmp(a, "--optimizer") == 0) {
            o->optimizer_name = v;
            if (strcmp(v, "adam") == 0) o->optimizer = FNET_OPTIMIZER_ADAM;
            else if (strcmp(v, "sgd") == 0) o->optimizer = FNET_OPTIMIZER_SGD;
            else if (strcmp(v, "adagrad") == 0) o->optimizer = FNET_OPTIMIZER_ADAGRAD;
            else return tr__usage("--optimizer takes adam, sgd or adagrad");
        } else if (strcmp(a, "--schedule") == 0) {
            o->schedule_name = v;
            if (strcmp(v, "constant") == 0) o->schedule = FNET_LR_CONSTANT;
            else if (strcmp(v, "cosine") == 0) o->schedule = FNET_LR_COSINE;
            else if (strcmp(v, "step") == 0) o->schedule = FNET_LR_STEP;
            else return tr__usage("--schedule takes constant, cosine or step");
        } else if (strcmp(a, "--mining") == 0) {
            o->mining_name = v;
            if (strcmp(v, "semihard") == 0 || strcmp(v, "semi-hard") == 0) o->mining = FNET_TRIPLET_SEMI_HARD;
            else if (strcmp(v, "hard") == 0) o->mining = FNET_TRIPLET_HARD;
            else return tr__usage("--mining takes semihard or hard");
        } else if (strcmp(a, "--jitter") == 0) {
            if (!parse_int(v, &o->jitter) || o->jitter < 0 || o->jitter > 1000) return tr__usage("--jitter takes 0 to 1000");
        } else if (strcmp(a, "--seed") == 0) {
            char *end;
            o->seed = strtoull(v, &end, 10);
            if (*end || end == v || *v == '-') return tr__usage("--seed takes a non-negative integer");
        } else if (strcmp(a, "--threads") == 0) {
            if (!parse_int(v, &o->threads) || o->threads < 1 || o->threads > TP_MAX_THREADS)
                return tr__usage("--threads takes 1 to 64");
            decides = 0;
        } else if (strcmp(a, "--log-every") == 0) {
            if (!parse_int(v, &o->log_every) || o->log_every < 1) return tr__usage("--log-every takes a positive number");
            decides = 0;
        } else if (strcmp(a, "--stop-after") == 0) {
            if (!parse_int(v, &o->stop_after) || o->stop_after < 1) return tr__usage("--stop-after takes a positive number of epochs");
            decides = 0;
        } else if (strcmp(a, "--resume") == 0) {
            o->resume = v;
            decides = 0;
        } else if (strcmp(a, "--checkpoint") == 0) {
            o->checkpoint = v;
            decides = 0;
        } else if (strcmp(a, "--plot") == 0) {
            o->plot = v;
            decides = 0;
        } else if (strcmp(a, "--net-blob") == 0) {
            o->net_blob = v;
        } else if (strcmp(a, "--network-id") == 0) {
            o->network_id = v;
            if (!*v || strlen(v) > FNET_NETWORK_ID_MAX)
                return tr__usage("--network-id takes 1 to 31 bytes");
        } else if (strcmp(a, "--exclude-pairs") == 0) {
            o->exclude_pairs = v;
        } else if (strcmp(a, "--exclude-fold") == 0) {
            if (!parse_int(v, &o->exclude_fold) || o->exclude_fold < 1 || o->exclude_fold > 1000)
                return tr__usage("--exclude-fold takes a fold number, 1 for the first");
        } else if (strcmp(a, "--pick") == 0) {
            if (strcmp(v, "centre") && strcmp(v, "center") && strcmp(v, "single"))
                return tr__usage("--pick takes centre or single");
            o->pick_single = strcmp(v, "single") == 0;
        } else if (strcmp(a, "--cache") == 0) {
            o->cache_dir = v;
            decides = 0;
        } else if (strcmp(a, "--distill") == 0) {
            o->distill = v;
            if (strcmp(v, "resnet")) return tr__usage("--distill takes resnet (the ResNet-34 blob as the teacher)");
        } else if (strcmp(a, "--distill-weight") == 0) {
            if (!tr__float(v, 0.0f, 1e6f, &o->distill_weight)) return tr__usage("--distill-weight takes 0 to 1e6");
        } else if (strcmp(a, "--loss") == 0) {
            o->loss_name = v;
            if (strcmp(v, "triplet") == 0) o->loss_mode = TR_LOSS_TRIPLET;
            else if (strcmp(v, "distill") == 0) o->loss_mode = TR_LOSS_DISTILL;
            else if (strcmp(v, "both") == 0) o->loss_mode = TR_LOSS_BOTH;
            else return tr__usage("--loss takes triplet, distill or both");
        } else if (strcmp(a, "--init") == 0) {
            o->init_name = v;
            if (strcmp(v, "keep") == 0) o->init_kind = 0;
            else if (strcmp(v, "he") == 0) o->init_kind = FNET_INIT_HE;
            else if (strcmp(v, "zeros") == 0) o->init_kind = FNET_INIT_ZEROS;
            else return tr__usage("--init takes keep, he or zeros");
        } else {
            fprintf(stderr, "fnet: train: unknown option %s\n", a);
            return tr__usage(NULL);
        }
        if (decides) {
            tr__arg(o, a);
            tr__arg(o, v);
        }
    }
    if (!o->trainable || !o->data || !o->out) return tr__usage("train needs --trainable, --data and --out");
    if (!*o->trainable) return tr__usage("--trainable needs names (\"*\" for every tensor)");
    if (!o->exclude_pairs != !o->exclude_fold) return tr__usage("--exclude-pairs and --exclude-fold go together");
    if (o->loss_mode < 0) o->loss_mode = o->distill ? TR_LOSS_BOTH : TR_LOSS_TRIPLET;
    if (o->loss_mode != TR_LOSS_TRIPLET && !o->distill) return tr__usage("--loss distill and both need --distill resnet");
    if (o->loss_mode == TR_LOSS_TRIPLET && o->distill) return tr__usage("--loss triplet takes no --distill");
    if (o->distill && o->loss_mode != TR_LOSS_TRIPLET && o->batch < 3) return tr__usage("distillation needs --batch 3 or more");
    if (o->people * o->per_person > o->batch) {
        if (o->batch_set) return tr__usage("--batch must hold --people x --per-person faces");
        o->batch = o->people * o->per_person;
    }
    return -1;
}

/* ---- splitmix64 (Steele, Lea and Flood 2014): the CLI's own generator ---- */
static unsigned long long tr__mix(unsigned long long *s) {
    unsigned long long z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static int tr__below(unsigned long long *s, int n) { return (int)(tr__mix(s) % (unsigned long long)n); }
/* The state of stream `what` (a constant per use) for the key (seed, a, b). */
static unsigned long long tr__stream(unsigned long long seed, unsigned long long what, unsigned long long a,
                                     unsigned long long b) {
    unsigned long long s = seed ^ (what * 0xD1B54A32D192ED03ULL);
    s = tr__mix(&s) ^ a;
    s = tr__mix(&s) ^ b;
    return tr__mix(&s);
}
#define TR_STREAM_EPOCH 1ULL
#define TR_STREAM_VAL 2ULL
#define TR_STREAM_JITTER 3ULL
static void tr__shuffle(int *v, int n, unsigned long long *s) {
    int i;
    for (i = n - 1; i > 0; i--) {
        int j = tr__below(s, i + 1), t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* ---- data ---- */
enum { TR_OK = 0, TR_MISSING, TR_UNREADABLE, TR_NO_FACE, TR_FAILED, TR_NO_MEMORY, TR_OFF_CENTRE };
static const char *const tr__status_name[] = {"ok", "missing", "unreadable", "no face found",
                                              "pipeline failed", "out of memory", "no face at the image centre"};

typedef struct tr_data {
    int n;             /* listed images */
    char **path;       /* n paths (as opened) */
    int *person;       /* n person indices */
    int n_people;
    char **name;       /* n_people names */
    unsigned char **chip; /* n chips (NULL when skipped) */
    int *status;       /* n TR_* */
    char **why;        /* n: image_load.h's reason for TR_UNREADABLE (malloc'ed), else NULL */
    float *teacher;    /* --distill: n * EC_DIM teacher embeddings (of the TR_OK images), else NULL */
    int n_excluded_people, n_excluded_images; /* --exclude-fold */
    int cache_hits;    /* --cache: images whose chip (and teacher) came from the cache */
} tr_data;

static void tr__data_free(tr_data *d) {
    int i;
    for (i = 0; i < d->n; i++) {
        free(d->path[i]);
        if (d->chip) free(d->chip[i]);
        if (d->why) free(d->why[i]);
    }
    for (i = 0; i < d->n_people; i++) free(d->name[i]);
    free(d->path);
    free(d->person);
    free(d->name);
    free(d->chip);
    free(d->status);
    free(d->why);
    free(d->teacher);
    memset(d, 0, sizeof *d);
}

static int tr__file_exists(const char *path) {
    return pf_kind(path, NULL, NULL) == PF_FILE;
}

/* Appends (name, path) to d, giving the person an index in order of first appearance. */
static int tr__add(tr_data *d, int *cap, int *pcap, const char *name, const char *path) {
    int p;
    for (p = d->n_people - 1; p >= 0; p--) /* lists group a person's lines: look from the end */
        if (strcmp(d->name[p], name) == 0) break;
    if (p < 0) {
        if (d->n_people == *pcap) {
            char **q = (char **)realloc(d->name, sizeof *q * (size_t)(*pcap = *pcap ? 2 * *pcap : 256));
            if (!q) return 0;
            d->name = q;
        }
        if (!(d->name[d->n_people] = (char *)malloc(strlen(name) + 1))) return 0;
        strcpy(d->name[d->n_people], name);
        p = d->n_people++;
    }
    if (d->n == *cap) {
        char **q = (char **)realloc(d->path, sizeof *q * (size_t)(*cap = *cap ? 2 * *cap : 1024));
        int *r;
        if (!q) return 0;
        d->path = q;
        if (!(r = (int *)realloc(d->person, sizeof *r * (size_t)*cap))) return 0;
        d->person = r;
    }
    if (!(d->path[d->n] = (char *)malloc(strlen(path) + 1))) return 0;
    strcpy(d->path[d->n], path);
    d->person[d->n++] = p;
    return 1;
}

/* The folder a list's relative paths start from: the list's own, or the nearest of its
   parents (up to three up) under which one of its first 50 paths exists. */
static void tr__list_base(const char *list, char **rel, int n, char *base, size_t cap) {
    char cand[4096];
    const char *slash = strrchr(list, '/');
    int up, i;
    if (slash) snprintf(cand, sizeof cand, "%.*s", (int)(slash - list), list);
    else snprintf(cand, sizeof cand, ".");
    snprintf(base, cap, "%s", cand);
    for (up = 0; up < 4; up++) {
        for (i = 0; i < n && i < 50; i++) {
            char p[8192];
            if (rel[i][0] == '/') continue;
            snprintf(p, sizeof p, "%s/%s", cand, rel[i]);
            if (tr__file_exists(p)) {
                snprintf(base, cap, "%s", cand);
                return;
            }
        }
        {   /* one folder up: drop the last name, unless it is "." or ".." */
            char *last = strrchr(cand, '/');
            const char *name = last ? last + 1 : cand;
            if (strcmp(name, "..") != 0 && strcmp(name, ".") != 0 && last && last != cand) *last = 0;
            else if (strcmp(name, "..") != 0 && strcmp(name, ".") != 0 && !last) snprintf(cand, sizeof cand, ".");
            else if (strlen(cand) + 4 < sizeof cand) strcat(cand, "/..");
            else return;
        }
    }
}

/* Reads LIST.txt or FOLDER/PERSON/IMAGE into d (paths and people; no pixels yet). */
static int tr__read_data(const char *data, tr_data *d, char *base, size_t base_cap) {
    int cap = 0, pcap = 0, i, kind = pf_kind(data, NULL, NULL);
    memset(d, 0, sizeof *d);
    base[0] = 0;
    if (kind == PF_NONE) {
        fprintf(stderr, "fnet: train: %s: no such file or folder\n", data);
        return 0;
    }
    if (kind == PF_DIR) {
        ec_labelled lab;
        if (!ec_labelled_dir(data, &lab)) return 0;
        for (i = 0; i < lab.n; i++)
            if (!tr__add(d, &cap, &pcap, lab.people[lab.label[i]], lab.paths[i])) { ec_labelled_free(&lab); return 0; }
        ec_labelled_free(&lab);
        snprintf(base, base_cap, "%s", data);
    } else {
        FILE *f = fopen(data, "r");
        char line[8192], **rel_path = NULL;
        int n_rel = 0, lineno = 0, ok = 1;
        tr_data raw;
        if (!f) {
            fprintf(stderr, "fnet: train: cannot read %s\n", data);
            return 0;
        }
        memset(&raw, 0, sizeof raw);
        while (ok && fgets(line, sizeof line, f)) {
            char *tab, *end = line + strlen(line);
            lineno++;
            while (end > line && (end[-1] == '\n' || end[-1] == '\r')) *--end = 0;
            if (line[0] == '#' || line[0] == 0) continue;
            tab = strchr(line, '\t');
            if (!tab || tab == line || !tab[1]) {
                fprintf(stderr, "fnet: train: %s:%d: want \"person<TAB>path\"\n", data, lineno);
                ok = 0;
                break;
            }
            *tab = 0;
            ok = tr__add(&raw, &cap, &pcap, line, tab + 1);
        }
        fclose(f);
        if (!ok) { tr__data_free(&raw); return 0; }
        rel_path = raw.path;
        n_rel = raw.n;
        tr__list_base(data, rel_path, n_rel, base, base_cap);
        /* the same people and images, with paths resolved against base */
        *d = raw;
        for (i = 0; i < raw.n; i++) {
            char p[8192], *q;
            if (raw.path[i][0] == '/') continue;
            snprintf(p, sizeof p, "%s/%s", base, raw.path[i]);
            if (!(q = (char *)malloc(strlen(p) + 1))) { tr__data_free(d); return 0; }
            strcpy(q, p);
            free(raw.path[i]);
            d->path[i] = q;
        }
    }
    d->chip = (unsigned char **)calloc((size_t)(d->n ? d->n : 1), sizeof *d->chip);
    d->status = (int *)calloc((size_t)(d->n ? d->n : 1), sizeof *d->status);
    d->why = (char **)calloc((size_t)(d->n ? d->n : 1), sizeof *d->why);
    if (!d->chip || !d->status || !d->why) { tr__data_free(d); return 0; }
    return 1;
}

/* --exclude-pairs PAIRS --exclude-fold K: drops from d every image of every person named in
   fold K (1 for the first) of an LFW pairs.txt (header "FOLDS<TAB>N", then per fold N matched
   lines "name i j" and N mismatched lines "name1 i name2 j"), so that a model can be scored
   on that fold without having seen its people (leave one fold out). Runs before any image is
   read; the excluded people keep their index (with no images). */
static int tr__exclude(tr_data *d, const char *pairs, int fold) {
    FILE *f = fopen(pairs, "r");
    char line[4096], *is_out;
    int folds = 0, per = 0, lineno = 0, i, k, p;
    if (!f) {
        fprintf(stderr, "fnet: train: cannot read %s\n", pairs);
        return 0;
    }
    if (!fgets(line, sizeof line, f) || sscanf(line, "%d %d", &folds, &per) != 2 || folds < 1 || per < 1 ||
        folds > 64 || per > 100000) { /* as eval-lfw; and 2 * per * folds stays an int */
        fprintf(stderr, "fnet: train: %s: want the header \"FOLDS<TAB>N\" of LFW's pairs.txt (1..64 folds, N <= 100000)\n",
                pairs);
        fclose(f);
        return 0;
    }
    if (fold > folds) {
        fprintf(stderr, "fnet: train: --exclude-fold %d: %s has %d folds\n", fold, pairs, folds);
        fclose(f);
        return 0;
    }
    is_out = (char *)calloc((size_t)d->n_people + 1, 1);
    if (!is_out) { fclose(f); return 0; }
    while (fgets(line, sizeof line, f)) {
        char a[1024], b[1024];
        int x, y, cur = lineno++ / (2 * per) + 1, na = sscanf(line, "%1023s %d %1023s %d", a, &x, b, &y);
        if (cur != fold) continue;
        if (na < 2) {
            fprintf(stderr, "fnet: train: %s:%d: not a pair line\n", pairs, lineno + 1);
            free(is_out);
            fclose(f);
            return 0;
        }
        for (p = 0; p < d->n_people; p++) /* "name1 i name2 j" (na 4): the second name too */
            if (strcmp(d->name[p], a) == 0 || (na == 4 && strcmp(d->name[p], b) == 0)) is_out[p] = 1;
    }
    fclose(f);
    if (lineno < 2 * per * folds) {
        fprintf(stderr, "fnet: train: %s holds %d pair lines, its header says %d\n", pairs, lineno, 2 * per * folds);
        free(is_out);
        return 0;
    }
    for (p = 0; p < d->n_people; p++) d->n_excluded_people += is_out[p];
    for (i = 0, k = 0; i < d->n; i++) {
        if (is_out[d->person[i]]) { free(d->path[i]); d->n_excluded_images++; continue; }
        d->path[k] = d->path[i];
        d->person[k++] = d->person[i];
    }
    d->n = k;
    free(is_out);
    return 1;
}

/* --cache DIR: one file per image and setting, named by FNV-1a of the image's path, size and
   mtime and a stamp (the alignment, the chip size, the detector and landmark blobs' paths,
   sizes and mtimes; the teacher's also for teacher files). Chip files: "FNETCHP1", the chip,
   the FNV-1a of both; teacher files: "FNETTEA1", EC_DIM floats, the FNV-1a. Written to a
   temporary name and renamed; a damaged or foreign file is recomputed. Only usable images
   are kept (the others are recomputed: they are few). After changing the pipeline's code,
   empty DIR. */
static unsigned long long tr__cache_key(unsigned long long stamp, const char *path) {
    return ec__fnv_file_stat(stamp, path);
}
static void tr__cache_name(char *out, size_t cap, const char *dir, unsigned long long key, const char *ext) {
    snprintf(out, cap, "%s/%016llx.%s", dir, key, ext);
}
static int tr__cache_read(const char *file, const char *magic, void *dst, size_t n) {
    FILE *f = fopen(file, "rb");
    unsigned char *buf = (unsigned char *)malloc(n + 16);
    int ok = 0;
    if (f && buf && fread(buf, 1, n + 16, f) == n + 16 && fgetc(f) == EOF && memcmp(buf, magic, 8) == 0) {
        unsigned long long h = ec__fnv(14695981039346656037ULL, buf, n + 8), got = 0;
        int i;
        for (i = 7; i >= 0; i--) got = (got << 8) | buf[n + 8 + i];
        if (got == h) { memcpy(dst, buf + 8, n); ok = 1; }
    }
    if (f) fclose(f);
    free(buf);
    return ok;
}
static void tr__cache_write(const char *file, const char *magic, const void *src, size_t n, int task) {
    char tmp[4200];
    unsigned char *buf = (unsigned char *)malloc(n + 16);
    unsigned long long h;
    int i;
    if (!buf) return;
    memcpy(buf, magic, 8);
    memcpy(buf + 8, src, n);
    h = ec__fnv(14695981039346656037ULL, buf, n + 8);
    for (i = 0; i < 8; i++) buf[n + 8 + i] = (unsigned char)(h >> (8 * i));
    snprintf(tmp, sizeof tmp, "%s.%ld.%d.tmp", file, pf_getpid(), task);
    if (cm__write_file(tmp, buf, n + 16)) {
        if (pf_rename(tmp, file) != 0) remove(tmp);
    }
    free(buf);
}

/* One image through the pipeline (a pool task): the chip, or a TR_* status. */
typedef struct tr_prep {
    fnet_model *det, *lm, *teacher; /* teacher: --distill, embeds dlib's 150 px chip */
    fnet_detect_opts dopts;
    fnet_align_kind kind;
    int size, first;
    tr_data *d;
    const char *cache_dir;          /* --cache, or NULL */
    unsigned long long chip_stamp, teacher_stamp;
    int pick_single;                /* --pick single */
    int *hit;                       /* per task: 1 when the cache had everything */
} tr_prep;

static void tr__prep_task(void *ctx, int task) {
    tr_prep *c = (tr_prep *)ctx;
    tr_data *d = c->d;
    int i = c->first + task, w, h, n = 0, best;
    unsigned char *px, *chip;
    fnet_box boxes[MAX_FACES];
    fnet_point pts[68];
    char chip_file[4200], teacher_file[4200];
    float *temb = c->teacher ? d->teacher + (size_t)i * EC_DIM : NULL;
    c->hit[task] = 0;
    if (!tr__file_exists(d->path[i])) { d->status[i] = TR_MISSING; return; }
    if (c->cache_dir) {
        tr__cache_name(chip_file, sizeof chip_file, c->cache_dir, tr__cache_key(c->chip_stamp, d->path[i]), "chip");
        tr__cache_name(teacher_file, sizeof teacher_file, c->cache_dir, tr__cache_key(c->teacher_stamp, d->path[i]), "teacher");
        if ((chip = (unsigned char *)malloc((size_t)c->size * c->size * 3)) != NULL) {
            if (tr__cache_read(chip_file, "FNETCHP1", chip, (size_t)c->size * c->size * 3) &&
                (!temb || tr__cache_read(teacher_file, "FNETTEA1", temb, sizeof(float) * EC_DIM))) {
                d->chip[i] = chip;
                d->status[i] = TR_OK;
                c->hit[task] = 1;
                return;
            }
            free(chip);
        }
    }
    {
        il_image im;
        char why[256];
        /* upright as the EXIF orientation says, as every other command reads photos
           (--no-exif: as stored; the chip cache's stamp says which) */
        if (!(ec_exif ? il_load_upright(d->path[i], 3, &im, NULL, why, sizeof why)
                      : il_load(d->path[i], 3, &im, why, sizeof why))) {
            d->status[i] = TR_UNREADABLE;
            d->why[i] = (char *)malloc(strlen(why) + 1);
            if (d->why[i]) memcpy(d->why[i], why, strlen(why) + 1);
            return;
        }
        px = im.pixels;
        w = im.width;
        h = im.height;
    }
    {
        fnet_image img = fnet_image_view(px, w, h, 3, w * 3);
        if (fnet_detect(c->det, img, &c->dopts, NULL, 0, boxes, MAX_FACES, &n) != FNET_OK) {
            d->status[i] = TR_FAILED;
        } else if (n == 0) {
            d->status[i] = TR_NO_FACE;
        } else if ((best = lfw__pick(boxes, n < MAX_FACES ? n : MAX_FACES, w, h, 0)) < 0 && !(c->pick_single && n == 1)) {
            d->status[i] = TR_OFF_CENTRE;
        } else if (!(chip = (unsigned char *)malloc((size_t)c->size * c->size * 3))) {
            d->status[i] = TR_NO_MEMORY;
        } else if (fnet_landmarks(c->lm, img, boxes[best < 0 ? 0 : best], pts) != FNET_OK ||
                   fnet_align(img, pts, 68, c->kind, c->size, chip) != FNET_OK) {
            free(chip);
            d->status[i] = TR_FAILED;
        } else {
            unsigned char tchip[150 * 150 * 3];
            if (temb && (fnet_align(img, pts, 68, fnet_embed_align_kind(c->teacher), 150, tchip) != FNET_OK ||
                         fnet_embed(c->teacher, tchip, NULL, 0, temb) != FNET_OK)) {
                free(chip);
                d->status[i] = TR_FAILED;
            } else {
                d->chip[i] = chip;
                d->status[i] = TR_OK;
                if (c->cache_dir) {
                    tr__cache_write(chip_file, "FNETCHP1", chip, (size_t)c->size * c->size * 3, task);
                    if (temb) tr__cache_write(teacher_file, "FNETTEA1", temb, sizeof(float) * EC_DIM, task);
                }
            }
        }
    }
    stbi_image_free(px);
}

/* Decodes, detects and aligns every image of d on the pool; prints progress and what was
   skipped. Returns 0 when the models cannot be loaded. */
static int tr__prepare(tr_data *d, const fnet_model *net, tp_pool *pool, const char *cache_dir, int distill,
                       int pick_single, double *ms) {
    tr_prep c;
    int hit[TR_CHUNK];
    int i, counts[7] = {0, 0, 0, 0, 0, 0, 0}, shown = 0, tty = pf_isatty(stderr);
    double t0 = now_ms();
    memset(&c, 0, sizeof c);
    c.d = d;
    c.size = fnet_embed_input_size(net);
    c.kind = fnet_embed_align_kind(net);
    c.dopts.upsample = 1;
    c.hit = hit;
    c.pick_single = pick_single;
    c.det = load_model("hog_frontal.fnet");
    c.lm = c.det ? load_model("landmarks68.fnet") : NULL;
    if (c.lm && distill) {
        c.teacher = load_model(ec_blob_name("resnet"));
        if (c.teacher && (fnet_embed_dim(c.teacher) != EC_DIM || fnet_embed_input_size(c.teacher) != 150)) { fnet_model_free(c.teacher); c.teacher = NULL; }
        d->teacher = c.teacher ? (float *)calloc((size_t)(d->n ? d->n : 1) * EC_DIM, sizeof(float)) : NULL;
        if (!d->teacher) { fnet_model_free(c.teacher); c.teacher = NULL; }
    }
    if (!c.lm || (distill && !c.teacher)) { fnet_model_free(c.det); fnet_model_free(c.lm); return 0; }
    if (cache_dir) {
        const char *blobs[3] = {"hog_frontal.fnet", "landmarks68.fnet", NULL};
        char p[4200];
        int k, v[3];
        v[0] = (int)c.kind; v[1] = c.size; v[2] = c.dopts.upsample;
        c.cache_dir = cache_dir;
        pf_mkdir(cache_dir);
        c.chip_stamp = ec__fnv(14695981039346656037ULL, "fnet train chip 1", 17);
        c.chip_stamp = ec__fnv(c.chip_stamp, v, sizeof v);
        if (pick_single) c.chip_stamp = ec__fnv(c.chip_stamp, "pick single", 11); /* centre's stamp unchanged */
        if (!ec_exif) c.chip_stamp = ec__fnv(c.chip_stamp, "no-exif", 7); /* other pixels, other chips */
        blobs[2] = ec_blob_name("resnet");
        for (k = 0; k < 2; k++) {
            snprintf(p, sizeof p, "%s/%s", weights_dir(), blobs[k]);
            c.chip_stamp = ec__fnv_file_stat(c.chip_stamp, p);
        }
        snprintf(p, sizeof p, "%s/%s", weights_dir(), blobs[2]);
        c.teacher_stamp = ec__fnv_file_stat(ec__fnv(c.chip_stamp, "teacher dlib_chip 150", 21), p);
    }
    for (c.first = 0; c.first < d->n; c.first += TR_CHUNK) {
        int n = d->n - c.first < TR_CHUNK ? d->n - c.first : TR_CHUNK, k;
        tp_run(pool, n, tr__prep_task, &c);
        for (k = 0; k < n; k++) d->cache_hits += hit[k];
        if (tty || c.first + n == d->n || (c.first / TR_CHUNK) % 10 == 9)
            fprintf(stderr, "train: prepared %d/%d images (%.1f ms/image)%s", c.first + n, d->n,
                    (now_ms() - t0) * pool->threads / (c.first + n), tty && c.first + n < d->n ? "\r" : "\n");
    }
    *ms = now_ms() - t0;
    if (cache_dir) fprintf(stderr, "train: cache %s: %d of %d images from it\n", cache_dir, d->cache_hits, d->n);
    fnet_model_free(c.det);
    fnet_model_free(c.lm);
    fnet_model_free(c.teacher);
    for (i = 0; i < d->n; i++) counts[d->status[i]]++;
    if (d->n - counts[TR_OK] > 0) {
        fprintf(stderr, "fnet: train: skipped %d of %d images (%d missing, %d unreadable, %d without a face, %d without "
                        "a face at the image centre%s, %d failed)",
                d->n - counts[TR_OK], d->n, counts[TR_MISSING], counts[TR_UNREADABLE], counts[TR_NO_FACE],
                counts[TR_OFF_CENTRE], counts[TR_OFF_CENTRE] && !pick_single ? " (--pick single takes a sole face anywhere)" : "",
                counts[TR_FAILED] + counts[TR_NO_MEMORY]);
        for (i = 0; i < d->n && shown < TR_SHOW_SKIPPED; i++)
            if (d->status[i] != TR_OK) {
                fprintf(stderr, "%s %s (%s%s%s)", shown++ ? "," : "; first:", d->path[i], tr__status_name[d->status[i]],
                        d->why[i] ? ": " : "", d->why[i] ? d->why[i] : "");
            }
        fprintf(stderr, "%s\n", d->n - counts[TR_OK] > shown ? ", ..." : "");
    }
    return 1;
}

/* ---- the split: people, their usable images ---- */
typedef struct tr_split {
    int *first, *count;   /* per person: start in img[], usable images */
    int *img;             /* usable image indices grouped by person */
    int *train_multi, n_train_multi; /* training people with >= 2 images */
    int *singles, n_singles;         /* training people with 1 image (negatives) */
    int *val_people, n_val_people;
    int *val_img, n_val_img;         /* images of the validation people */
    int *train_img, n_train_img;     /* every training image (multi and single) */
    int *slot;                       /* per image: its row in the training cache, or -1 */
    int n_used, n_people_used, n_multi, n_single;
    ec_pair *pairs;                  /* validation pairs (a, b: indices into val_img) */
    int n_pairs;
} tr_split;

static void tr__split_free(tr_split *s) {
    free(s->first); free(s->count); free(s->img); free(s->train_multi); free(s->singles);
    free(s->val_people); free(s->val_img); free(s->train_img); free(s->slot); free(s->pairs);
    memset(s, 0, sizeof *s);
}

static int tr__split(const tr_data *d, float val_fraction, unsigned long long seed, tr_split *s) {
    int i, p, k, *multi, n_val = 0, n_same = 0, cap;
    unsigned long long rng = tr__stream(seed, TR_STREAM_VAL, 0, 0);
    char *is_val;
    memset(s, 0, sizeof *s);
    s->first = (int *)calloc((size_t)d->n_people + 1, sizeof(int));
    s->count = (int *)calloc((size_t)d->n_people + 1, sizeof(int));
    s->img = (int *)malloc(sizeof(int) * (size_t)(d->n + 1));
    s->slot = (int *)malloc(sizeof(int) * (size_t)(d->n + 1));
    multi = (int *)malloc(sizeof(int) * (size_t)(d->n_people + 1));
    is_val = (char *)calloc((size_t)d->n_people + 1, 1);
    s->train_multi = (int *)malloc(sizeof(int) * (size_t)(d->n_people + 1));
    s->singles = (int *)malloc(sizeof(int) * (size_t)(d->n_people + 1));
    s->val_people = (int *)malloc(sizeof(int) * (size_t)(d->n_people + 1));
    s->val_img = (int *)malloc(sizeof(int) * (size_t)(d->n + 1));
    s->train_img = (int *)malloc(sizeof(int) * (size_t)(d->n + 1));
    if (!s->first || !s->count || !s->img || !s->slot || !multi || !is_val || !s->train_multi || !s->singles ||
        !s->val_people || !s->val_img || !s->train_img) {
        free(multi); free(is_val);
        return 0;
    }
    for (i = 0; i < d->n; i++) { s->slot[i] = -1; if (d->status[i] == TR_OK) s->count[d->person[i]]++; }
    for (p = 0, k = 0; p < d->n_people; p++) { s->first[p] = k; k += s->count[p]; }
    s->n_used = k;
    for (p = 0; p < d->n_people; p++) s->count[p] = 0;
    for (i = 0; i < d->n; i++)
        if (d->status[i] == TR_OK) { p = d->person[i]; s->img[s->first[p] + s->count[p]++] = i; }
    for (p = 0, k = 0; p < d->n_people; p++) {
        if (s->count[p] >= 2) multi[k++] = p;
        s->n_people_used += s->count[p] > 0;
        s->n_single += s->count[p] == 1;
    }
    s->n_multi = k;
    /* validation: a seeded choice of the people with >= 2 images, at least 2 when any, and
       at least 2 such people left for training */
    if (val_fraction > 0 && s->n_multi >= 4) {
        n_val = (int)(val_fraction * s->n_multi + 0.5);
        if (n_val < 2) n_val = 2;
        if (n_val > s->n_multi - 2) n_val = s->n_multi - 2;
        tr__shuffle(multi, s->n_multi, &rng);
        for (i = 0; i < n_val; i++) is_val[multi[i]] = 1;
    }
    for (p = 0; p < d->n_people; p++) {
        if (s->count[p] == 0) continue;
        if (is_val[p]) {
            s->val_people[s->n_val_people++] = p;
            for (k = 0; k < s->count[p]; k++) s->val_img[s->n_val_img++] = s->img[s->first[p] + k];
            n_same += s->count[p] * (s->count[p] - 1) / 2;
            continue;
        }
        if (s->count[p] >= 2) s->train_multi[s->n_train_multi++] = p;
        else s->singles[s->n_singles++] = p;
        for (k = 0; k < s->count[p]; k++) {
            s->slot[s->img[s->first[p] + k]] = s->n_train_img;
            s->train_img[s->n_train_img++] = s->img[s->first[p] + k];
        }
    }
    free(multi);
    free(is_val);
    /* every same-person pair, and as many different-person pairs drawn at random */
    cap = 2 * n_same;
    s->pairs = (ec_pair *)malloc(sizeof(ec_pair) * (size_t)(cap ? cap : 1));
    if (!s->pairs) return 0;
    for (i = 0; i < s->n_val_img; i++)
        for (k = i + 1; k < s->n_val_img && d->person[s->val_img[k]] == d->person[s->val_img[i]]; k++) {
            s->pairs[s->n_pairs].a = i; s->pairs[s->n_pairs].b = k;
            s->pairs[s->n_pairs].same = 1; s->pairs[s->n_pairs].fold = 0;
            s->n_pairs++;
        }
    while (s->n_pairs < cap) {
        int a = tr__below(&rng, s->n_val_img), b = tr__below(&rng, s->n_val_img);
        if (d->person[s->val_img[a]] == d->person[s->val_img[b]]) continue;
        s->pairs[s->n_pairs].a = a; s->pairs[s->n_pairs].b = b;
        s->pairs[s->n_pairs].same = 0; s->pairs[s->n_pairs].fold = 0;
        s->n_pairs++;
    }
    return 1;
}

/* ---- pool tasks: a batch's inputs, validation embeddings ---- */
/* One batch: for sample k (image img[k], jitter copy `version`), its frontier (from the
   cache, computed there on the image's first use) or its input tensor (--no-cache). The
   samples of a batch are distinct images, so the tasks write disjoint rows. */
typedef struct tr_batch_ctx {
    const fnet_trainer *tr;
    const tr_data *d;
    const tr_split *s;
    int size, versions, version, jitter;
    unsigned long long seed;
    size_t fsize, chip_bytes;
    float *cache;           /* frontier rows: (slot * versions + v) * fsize; NULL: --no-cache */
    unsigned char *have;    /* per row: computed */
    const int *img;
    float *inputs;          /* the batch: n * (fsize or chip_bytes) floats */
    fnet_result *res;       /* per sample */
    int *computed;          /* per sample: 1 when its frontier was computed now */
} tr_batch_ctx;

static void tr__batch_task(void *ctx, int k) {
    tr_batch_ctx *c = (tr_batch_ctx *)ctx;
    int i = c->img[k];
    size_t row = (size_t)c->s->slot[i] * c->versions + c->version;
    const unsigned char *chip = c->d->chip[i];
    unsigned char *jc = NULL;
    float *in = NULL;
    fnet_result r = FNET_OK;
    c->computed[k] = 0;
    if (!c->cache || !c->have[row]) {
        if (c->jitter) { /* copy v of image i: seeded by the run's seed, the image and the copy */
            unsigned long long st = tr__stream(c->seed, TR_STREAM_JITTER, (unsigned long long)i, (unsigned long long)c->version);
            if (!(jc = (unsigned char *)malloc(c->chip_bytes))) r = FNET_ERR_OUT_OF_MEMORY;
            else jitter_chip(chip, jc, c->size, &st);
            chip = jc;
        }
        if (!c->cache) {
            if (r == FNET_OK) r = fnet_trainer_input_from_rgb(c->tr, chip, c->inputs + (size_t)k * c->chip_bytes);
        } else {
            if (r == FNET_OK && !(in = (float *)malloc(sizeof(float) * c->chip_bytes))) r = FNET_ERR_OUT_OF_MEMORY;
            if (r == FNET_OK) r = fnet_trainer_input_from_rgb(c->tr, chip, in);
            if (r == FNET_OK) r = fnet_trainer_frontier(c->tr, in, c->cache + row * c->fsize);
            if (r == FNET_OK) c->have[row] = 1;
            c->computed[k] = 1;
        }
    }
    if (r == FNET_OK && c->cache) memcpy(c->inputs + (size_t)k * c->fsize, c->cache + row * c->fsize, sizeof(float) * c->fsize);
    c->res[k] = r;
    free(jc);
    free(in);
}

typedef struct tr_embed_ctx {
    const fnet_model *net;
    const tr_data *d;
    const int *img;
    float *emb;
    fnet_result *res;
} tr_embed_ctx;

static void tr__embed_task(void *ctx, int task) {
    tr_embed_ctx *c = (tr_embed_ctx *)ctx;
    c->res[task] = fnet_embed(c->net, c->d->chip[c->img[task]], NULL, 0, c->emb + (size_t)task * EC_DIM);
}

/* Validation accuracy of the trainer's current network: -1 without pairs, -2 on failure, -3
   when an embedding is not finite (the training diverged). */
static double tr__validate(const fnet_trainer *tr, const tr_data *d, const tr_split *s, tp_pool *pool,
                           double *thr) {
    tr_embed_ctx c;
    double *dist, acc = -2;
    int i;
    *thr = 0;
    if (s->n_pairs == 0) return -1;
    c.net = fnet_trainer_model(tr);
    c.d = d;
    c.img = s->val_img;
    c.emb = (float *)malloc(sizeof(float) * EC_DIM * (size_t)s->n_val_img);
    c.res = (fnet_result *)malloc(sizeof(fnet_result) * (size_t)s->n_val_img);
    dist = (double *)malloc(sizeof(double) * (size_t)s->n_pairs);
    if (c.emb && c.res && dist && fnet_embed_dim(c.net) == EC_DIM) {
        tp_run(pool, s->n_val_img, tr__embed_task, &c);
        for (i = 0; i < s->n_val_img && c.res[i] == FNET_OK; i++) {}
        if (i == s->n_val_img && fnet_check_finite(c.emb, (size_t)s->n_val_img * EC_DIM) != FNET_OK) {
            acc = -3;
        } else if (i == s->n_val_img) {
            for (i = 0; i < s->n_pairs; i++) {
                dist[i] = fnet_distance(c.emb + (size_t)s->pairs[i].a * EC_DIM, c.emb + (size_t)s->pairs[i].b * EC_DIM, EC_DIM);
                if (!isfinite(dist[i])) break;
            }
            acc = i < s->n_pairs ? -3 : ec_best_threshold(dist, s->pairs, s->n_pairs, -1, thr);
        } else {
            fprintf(stderr, "fnet: train: validation embedding: %s\n", fnet_result_string(c.res[i]));
        }
    }
    free(c.emb);
    free(c.res);
    free(dist);
    return acc;
}

/* ---- history and checkpoints ---- */
typedef struct tr_hist {
    float *loss;      /* per step */
    int n_loss, cap_loss;
    float *epoch_loss; /* per epoch: mean */
    float *val;        /* per epoch + 1 (index 0: before training); < 0: none */
    int n_epochs;
} tr_hist;

static int tr__push(float **v, int *n, int *cap, float x) {
    if (*n == *cap) {
        float *q = (float *)realloc(*v, sizeof(float) * (size_t)(*cap = *cap ? 2 * *cap : 256));
        if (!q) return 0;
        *v = q;
    }
    (*v)[(*n)++] = x;
    return 1;
}

/* Little-endian fields in a growing buffer. */
typedef struct tr_buf {
    unsigned char *p;
    size_t n, cap;
    int bad;
} tr_buf;

static void tr__put(tr_buf *b, const void *src, size_t n) {
    if (b->bad) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        unsigned char *q;
        while (cap < b->n + n) cap *= 2;
        if (!(q = (unsigned char *)realloc(b->p, cap))) { b->bad = 1; return; }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void tr__put64(tr_buf *b, unsigned long long v) {
    unsigned char x[8];
    int i;
    for (i = 0; i < 8; i++) x[i] = (unsigned char)(v >> (8 * i));
    tr__put(b, x, 8);
}
static void tr__putf(tr_buf *b, float f) {
    unsigned int u;
    memcpy(&u, &f, 4);
    tr__put64(b, u); /* 8 bytes per float: one reader for everything */
}
static unsigned long long tr__get64(const unsigned char *p) {
    unsigned long long v = 0;
    int i;
    for (i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static float tr__getf(const unsigned char *p) {
    unsigned int u = (unsigned int)tr__get64(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Checkpoint: magic, version, settings hash, epochs done, generator state, history, the
   trainer's state, FNV-1a of all before it. */
static int tr__save_checkpoint(const char *path, const fnet_trainer *tr, unsigned long long hash, int epochs_done,
                               unsigned long long rng, const tr_hist *h) {
    tr_buf b;
    size_t size = 0;
    int i, ok;
    fnet_result r;
    memset(&b, 0, sizeof b);
    tr__put(&b, TR_CKPT_MAGIC, 8);
    tr__put64(&b, TR_CKPT_VERSION);
    tr__put64(&b, hash);
    tr__put64(&b, (unsigned long long)epochs_done);
    tr__put64(&b, rng);
    tr__put64(&b, (unsigned long long)h->n_loss);
    for (i = 0; i < h->n_loss; i++) tr__putf(&b, h->loss[i]);
    for (i = 0; i < epochs_done; i++) tr__putf(&b, h->epoch_loss[i]);
    for (i = 0; i <= epochs_done; i++) tr__putf(&b, h->val[i]);
    r = fnet_trainer_save_state(tr, NULL, 0, &size);
    if (r != FNET_OK) {
        fprintf(stderr, "fnet: train: checkpoint: %s\n", fnet_result_string(r));
        free(b.p);
        return 0;
    }
    tr__put64(&b, (unsigned long long)size);
    if (!b.bad && b.n + size + 8 > b.cap) {
        unsigned char *q = (unsigned char *)realloc(b.p, b.n + size + 8);
        if (!q) b.bad = 1;
        else { b.p = q; b.cap = b.n + size + 8; }
    }
    if (b.bad || (r = fnet_trainer_save_state(tr, b.p + b.n, size, &size)) != FNET_OK) {
        fprintf(stderr, "fnet: train: checkpoint: %s\n", fnet_result_string(b.bad ? FNET_ERR_OUT_OF_MEMORY : r));
        free(b.p);
        return 0;
    }
    b.n += size;
    tr__put64(&b, ec__fnv(14695981039346656037ULL, b.p, b.n));
    ok = !b.bad && cm__write_file(path, b.p, b.n);
    free(b.p);
    return ok;
}

/* Reads a checkpoint into the trainer and the history; returns the epochs done, -1 on error. */
static int tr__load_checkpoint(const char *path, fnet_trainer *tr, unsigned long long hash, unsigned long long *rng,
                               tr_hist *h) {
    FILE *f = fopen(path, "rb");
    unsigned char *p = NULL;
    long size;
    size_t n, off = 0, state;
    unsigned long long epochs, steps, i;
    fnet_result r;
    int bad = 1;
    if (!f) {
        fprintf(stderr, "fnet: train: cannot read checkpoint %s\n", path);
        return -1;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (p = (unsigned char *)malloc((size_t)size)) != NULL && fread(p, 1, (size_t)size, f) == (size_t)size)
        bad = 0;
    fclose(f);
    n = bad ? 0 : (size_t)size;
#define TR_NEED(k) if (off + (k) > n) goto fail
    TR_NEED(8 + 5 * 8);
    if (memcmp(p, TR_CKPT_MAGIC, 8) != 0 || tr__get64(p + 8) != TR_CKPT_VERSION) goto fail;
    if (tr__get64(p + n - 8) != ec__fnv(14695981039346656037ULL, p, n - 8)) goto fail;
    if (tr__get64(p + 16) != hash) {
        fprintf(stderr, "fnet: train: %s was made with other options or data; resume with the options of that run\n", path);
        free(p);
        return -1;
    }
    epochs = tr__get64(p + 24);
    *rng = tr__get64(p + 32);
    steps = tr__get64(p + 40);
    off = 48;
    if (epochs > 100000 || steps > (n - off) / 8) goto fail;
    TR_NEED(8 * (steps + 2 * epochs + 1) + 8);
    for (i = 0; i < steps; i++, off += 8)
        if (!tr__push(&h->loss, &h->n_loss, &h->cap_loss, tr__getf(p + off))) goto fail;
    h->epoch_loss = (float *)malloc(sizeof(float) * (size_t)(epochs + 1));
    h->val = (float *)malloc(sizeof(float) * (size_t)(epochs + 2));
    if (!h->epoch_loss || !h->val) goto fail;
    for (i = 0; i < epochs; i++, off += 8) h->epoch_loss[i] = tr__getf(p + off);
    for (i = 0; i <= epochs; i++, off += 8) h->val[i] = tr__getf(p + off);
    h->n_epochs = (int)epochs;
    state = (size_t)tr__get64(p + off);
    off += 8;
    TR_NEED(state + 8);
    if ((r = fnet_trainer_load_state(tr, p + off, state)) != FNET_OK) {
        fprintf(stderr, "fnet: train: %s: %s%s%s\n", path, fnet_result_string(r),
                *fnet_trainer_error_detail(tr) ? ": " : "", fnet_trainer_error_detail(tr));
        free(p);
        return -1;
    }
    free(p);
    return (int)epochs;
fail:
#undef TR_NEED
    fprintf(stderr, "fnet: train: %s is not an fnet train checkpoint, or it is damaged\n", path);
    free(p);
    return -1;
}

/* ---- plot: loss per step and per epoch, validation accuracy per epoch ---- */
static int tr__plot(const char *path, const tr_hist *h, int steps_per_epoch, const char *title,
                    const char *loss_label) {
    unsigned char *img = (unsigned char *)malloc(ROC_W * ROC_H * 3);
    int x0 = 64, x1 = ROC_W - 16, ly0 = 60, ly1 = 240, vy0 = 284, vy1 = ROC_H - 36, k, total, ok;
    double lmax = 0;
    char lab[64];
    if (!img) return 0;
    memset(img, 255, ROC_W * ROC_H * 3);
    total = h->n_epochs * steps_per_epoch;
    if (total < 1) total = 1;
    for (k = 0; k < h->n_loss; k++) if (h->loss[k] > lmax) lmax = h->loss[k];
    if (!(lmax > 0)) lmax = 1;
#define TR_X(step) (x0 + (int)((double)(step) / total * (x1 - x0) + 0.5))
#define TR_LY(l) (ly1 - (int)((l) / lmax * (ly1 - ly0) + 0.5))
#define TR_VY(a) (vy1 - (int)(((a) - 0.5) / 0.5 * (vy1 - vy0) + 0.5))
    for (k = 0; k <= 4; k++) { /* frames and grids */
        unsigned char c = k == 0 || k == 4 ? 0 : 220;
        roc__line(img, x0, ly0 + k * (ly1 - ly0) / 4, x1, ly0 + k * (ly1 - ly0) / 4, 1, c, c, c);
        roc__line(img, x0, vy0 + k * (vy1 - vy0) / 4, x1, vy0 + k * (vy1 - vy0) / 4, 1, c, c, c);
    }
    for (k = 0; k <= h->n_epochs; k++) {
        unsigned char c = k == 0 || k == h->n_epochs ? 0 : 220;
        roc__line(img, TR_X(k * steps_per_epoch), ly0, TR_X(k * steps_per_epoch), ly1, 1, c, c, c);
        roc__line(img, TR_X(k * steps_per_epoch), vy0, TR_X(k * steps_per_epoch), vy1, 1, c, c, c);
    }
    for (k = 1; k < h->n_loss; k++) /* every step (at its end), light */
        roc__line(img, TR_X(k), TR_LY(h->loss[k - 1]), TR_X(k + 1), TR_LY(h->loss[k]), 1, 240, 160, 160);
    for (k = 0; k < h->n_epochs; k++) { /* epoch means at the epochs' ends */
        int x = TR_X((k + 1) * steps_per_epoch), y = TR_LY(h->epoch_loss[k]);
        if (k > 0) roc__line(img, TR_X(k * steps_per_epoch), TR_LY(h->epoch_loss[k - 1]), x, y, 2, 200, 30, 30);
        roc__line(img, x - 2, y, x + 2, y, 3, 200, 30, 30);
    }
    for (k = 0; k <= h->n_epochs; k++) {
        double a = h->val[k] < 0.5 ? 0.5 : h->val[k];
        int x = TR_X(k * steps_per_epoch);
        if (h->val[k] < 0) continue;
        if (k > 0 && h->val[k - 1] >= 0)
            roc__line(img, TR_X((k - 1) * steps_per_epoch), TR_VY(h->val[k - 1] < 0.5 ? 0.5 : h->val[k - 1]), x, TR_VY(a), 2,
                      30, 60, 200);
        roc__line(img, x - 2, TR_VY(a), x + 2, TR_VY(a), 3, 30, 60, 200);
    }
    for (k = 0; k <= h->n_epochs; k += h->n_epochs > 10 ? (h->n_epochs + 9) / 10 : 1) {
        snprintf(lab, sizeof lab, "%d", k);
        roc__text(img, TR_X(k * steps_per_epoch) - 4, vy1 + 4, lab);
    }
    snprintf(lab, sizeof lab, "%.3g", lmax);
    roc__text(img, 4, ly0 - 6, lab);
    roc__text(img, 4, ly1 - 6, "0");
    roc__text(img, 4, vy0 - 6, "100%");
    roc__text(img, 4, (vy0 + vy1) / 2 - 6, "75%");
    roc__text(img, 4, vy1 - 6, "50%");
    roc__text(img, x0 + 4, ly0 - 20, loss_label);
    roc__text(img, x0 + 4, vy0 - 20, "validation pair accuracy");
    snprintf(lab, sizeof lab, "epoch (%d steps each)", steps_per_epoch);
    roc__text(img, ROC_W / 2 - 100, ROC_H - 16, lab);
    roc__text(img, 4, 4, title);
#undef TR_X
#undef TR_LY
#undef TR_VY
    ok = write_png(path, img, ROC_W, ROC_H);
    free(img);
    return ok;
}

/* ---- distillation: the step with the teacher's term ---- */
/* Work buffers of tr__step_distill, B rows of EC_DIM each. */
typedef struct tr_dwork {
    float *emb, *grad, *dgrad, *teach;
} tr_dwork;

/* One step of --loss distill or both: forward (embeddings kept), the triplet term as
   fnet_trainer_step_triplet computes it (same mining, alpha, gradient; --loss both), the
   distillation term W * fnet_distill_loss against the teacher embeddings of the same images
   (the batch's rows, one-image negatives included), their gradients summed, one backward and
   one update. *loss = triplet + W * distill, *dloss = the distillation term (1 - r, unweighted).
   The batch itself is the one the triplet run would use: only the objective differs. */
static fnet_result tr__step_distill(fnet_trainer *tr, const tr_opts *o, const tr_data *d, tr_dwork *w,
                                    const float *inputs, int from_frontier, const int *img, const int *labels,
                                    int n, float *loss, float *dloss, int *n_triplets, int *n_active) {
    fnet_result r;
    float lt = 0.0f, ld = 0.0f;
    int cnt = 0, act = 0, k;
    size_t e, m = (size_t)n * EC_DIM;
    *loss = *dloss = 0.0f;
    *n_triplets = *n_active = 0;
    if ((r = fnet_trainer_forward(tr, inputs, from_frontier, n, w->emb)) != FNET_OK) return r;
    memset(w->grad, 0, sizeof(float) * m);
    if (o->loss_mode == TR_LOSS_BOTH) {
        if ((r = fnet_triplet_select(w->emb, labels, n, EC_DIM, o->alpha, o->mining, NULL, 0, &cnt)) != FNET_OK) return r;
        if (cnt > 0) {
            fnet_triplet *t = (fnet_triplet *)malloc(sizeof(fnet_triplet) * (size_t)cnt);
            if (!t) return FNET_ERR_OUT_OF_MEMORY;
            r = fnet_triplet_select(w->emb, labels, n, EC_DIM, o->alpha, o->mining, t, cnt, &cnt);
            if (r == FNET_OK) r = fnet_triplet_loss(w->emb, n, EC_DIM, t, cnt, o->alpha, &lt, w->grad, &act);
            free(t);
            if (r != FNET_OK) return r;
            if (act == 0) memset(w->grad, 0, sizeof(float) * m);
        }
    }
    for (k = 0; k < n; k++) memcpy(w->teach + (size_t)k * EC_DIM, d->teacher + (size_t)img[k] * EC_DIM, sizeof(float) * EC_DIM);
    if ((r = fnet_distill_loss(w->emb, w->teach, n, EC_DIM, EC_DIM, &ld, w->dgrad)) != FNET_OK) return r;
    for (e = 0; e < m; e++) w->grad[e] += o->distill_weight * w->dgrad[e];
    *loss = lt + o->distill_weight * ld;
    *dloss = ld;
    *n_triplets = cnt;
    *n_active = act;
    if (!isfinite(*loss)) return FNET_ERR_NOT_FINITE;
    if ((r = fnet_trainer_backward(tr, w->grad, NULL)) == FNET_OK) r = fnet_trainer_update(tr);
    if (r != FNET_OK) fnet_trainer_zero_grad(tr);
    return r;
}

/* ---- the run ---- */
/* CPU time of the whole process (every thread), ms: images per CPU second do not depend on
   how busy the machine is, wall-clock images per second do. */
static double tr__cpu_ms(void) { return pf_cpu_ms(); }

static void tr__eta(char *out, size_t cap, double ms) {
    long s = (long)(ms / 1000 + 0.5);
    if (s >= 3600) snprintf(out, cap, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else snprintf(out, cap, "%ld:%02ld", s / 60, s % 60);
}

/* The end of the message when training diverged: what is kept. */
static void tr__diverged(const tr_opts *o, int last_ckpt, int start_epoch) {
    fprintf(stderr, "; stopped, nothing written");
    if (o->checkpoint && last_ckpt > 0) fprintf(stderr, "; the last good checkpoint %s (after epoch %d) is kept", o->checkpoint, last_ckpt);
    else if (o->resume && start_epoch > 0) fprintf(stderr, "; the checkpoint %s (after epoch %d) is kept", o->resume, start_epoch);
    fprintf(stderr, "; try a smaller --lr\n");
}

/* The network id the output gets, checked for length. */
static int tr__out_id(const tr_opts *o, const fnet_model *net, char *id, size_t cap) {
    if (o->network_id) snprintf(id, cap, "%s", o->network_id);
    else snprintf(id, cap, "%s+trained", fnet_network_id(net));
    if (strlen(id) > FNET_NETWORK_ID_MAX) {
        fprintf(stderr, "fnet: train: the network id %s is longer than %d bytes: give one with --network-id\n", id,
                FNET_NETWORK_ID_MAX);
        return 0;
    }
    return 1;
}

static int cmd_train(int argc, char **argv) {
    tr_opts o;
    tr_data d;
    tr_split s;
    tr_hist h;
    tp_pool pool;
    fnet_model *net = NULL;
    fnet_trainer *tr = NULL;
    fnet_trainer_opts to;
    fnet_result r;
    char base[4096], out_id[64], data_meta[4600], seed_meta[32];
    int rc, i, size, dim, versions, steps_per_epoch, start_epoch = 0, epoch, B, ok_prep, tty = pf_isatty(stderr);
    int *batch_img = NULL, *labels = NULL, *order = NULL, *singles = NULL, *pick = NULL, cr_pending = 0, stopped = 0, last_ckpt = 0;
    size_t fsize = 0, row_floats, chip_bytes;
    float *cache = NULL, *inputs = NULL;
    unsigned char *have = NULL;
    tr_batch_ctx bc;
    tr_dwork dw;
    float dloss = 0;
    char dl_text[48] = "";
    unsigned long long hash, rng = 0;
    double prep_ms = 0, input_ms = 0, step_ms = 0, train_ms = 0, val_ms = 0, cpu_ms = 0, thr = 0, t0;
    long long images_trained = 0, steps_run = 0, frontiers = 0;

    if ((rc = tr__parse(argc, argv, &o)) >= 0) return rc;
    if (o.resume && !tr__file_exists(o.resume)) {
        fprintf(stderr, "fnet: train: cannot read checkpoint %s\n", o.resume);
        return 1;
    }
    memset(&d, 0, sizeof d);
    memset(&s, 0, sizeof s);
    memset(&h, 0, sizeof h);
    memset(&bc, 0, sizeof bc);
    memset(&dw, 0, sizeof dw);
    rc = 1;
    tp_start(&pool, o.threads);

    /* 1. the network, and the trainable names checked before any image is read */
    if (o.net_blob) {
        r = fnet_model_load_file(o.net_blob, &net);
        if (r != FNET_OK) fprintf(stderr, "fnet: %s: %s\n", o.net_blob, fnet_result_string(r));
    } else {
        net = load_model(ec_blob_name(o.net));
    }
    if (!net) goto done;
    size = fnet_embed_input_size(net);
    dim = fnet_embed_dim(net);
    if (dim != EC_DIM || size <= 0) {
        fprintf(stderr, "fnet: train: not an embedding network (dim %d, input %d)\n", dim, size);
        goto done;
    }
    if (!tr__out_id(&o, net, out_id, sizeof out_id)) goto done;
    {
        char bad[128];
        r = fnet_trainer_unmatched(net, o.trainable, bad, sizeof bad);
        if (r == FNET_ERR_NOT_FOUND) {
            fprintf(stderr, "fnet: train: --trainable: \"%s\" matches no tensor of a conv or dense op of %s "
                            "(`fnet info` lists the tensors)\n", bad, fnet_network_id(net));
            rc = EXIT_USAGE;
            goto done;
        }
        if (r != FNET_OK) {
            fprintf(stderr, "fnet: train: %s\n", fnet_result_string(r));
            goto done;
        }
    }

    /* 2. data: list, pipeline, split */
    if (!tr__read_data(o.data, &d, base, sizeof base)) goto done;
    if (d.n == 0) {
        fprintf(stderr, "fnet: train: %s lists no images\n", o.data);
        goto done;
    }
    if (strcmp(base, o.data) != 0) fprintf(stderr, "train: %d images of %d people; paths from %s\n", d.n, d.n_people, base);
    if (o.exclude_pairs) {
        if (!tr__exclude(&d, o.exclude_pairs, o.exclude_fold)) goto done;
        fprintf(stderr, "train: left out %d people (%d images) of fold %d of %s; %d images remain\n", d.n_excluded_people,
                d.n_excluded_images, o.exclude_fold, o.exclude_pairs, d.n);
        if (d.n == 0) goto done;
    }
    ok_prep = tr__prepare(&d, net, &pool, o.cache_dir, o.loss_mode != TR_LOSS_TRIPLET, o.pick_single, &prep_ms);
    if (!ok_prep || !tr__split(&d, o.val_fraction, o.seed, &s)) goto done;
    fprintf(stderr,
            "train: %d usable images of %d people: %d people with >= 2 images, %d with one (negatives only); "
            "validation: %d people, %d images, %d pairs; training: %d people with >= 2 images, %d images\n",
            s.n_used, s.n_people_used, s.n_multi, s.n_single, s.n_val_people, s.n_val_img, s.n_pairs, s.n_train_multi,
            s.n_train_img);
    if (s.n_train_multi < 1 || s.n_train_multi + s.n_singles < 2) {
        fprintf(stderr, "fnet: train: too few people to train on: need at least one person with two usable images and another person\n");
        goto done;
    }

    /* 3. batches */
    {
        int P = o.people < s.n_train_multi ? o.people : s.n_train_multi;
        steps_per_epoch = s.n_train_multi / P;
        o.people = P;
        B = o.batch;
    }
    {
        int fill = B - o.people * o.per_person < s.n_singles ? B - o.people * o.per_person : s.n_singles;
        fprintf(stderr, "train: %d steps per epoch, batches of up to %d: %d people x up to %d images, %d one-image people\n",
                steps_per_epoch, B, o.people, o.per_person, fill > 0 ? fill : 0);
    }

    /* 4. the trainer */
    memset(&to, 0, sizeof to);
    to.trainable = o.trainable;
    to.optimizer = o.optimizer;
    to.learning_rate = o.lr;
    to.weight_decay = o.weight_decay;
    to.schedule = o.schedule;
    to.total_steps = o.epochs * steps_per_epoch;
    to.step_every = o.schedule == FNET_LR_STEP ? (to.total_steps / 3 > 0 ? to.total_steps / 3 : 1) : 0;
    to.max_batch = B;
    to.grad_slots = TR_GRAD_SLOTS;
    to.parallel_for = tp_run;
    to.parallel_user = &pool;
    if ((r = fnet_trainer_create(net, &to, &tr)) != FNET_OK) {
        fprintf(stderr, "fnet: train: %s\n", fnet_result_string(r));
        goto done;
    }
    if (o.init_kind && (r = fnet_trainer_init_weights(tr, (fnet_init)o.init_kind, o.seed)) != FNET_OK) {
        fprintf(stderr, "fnet: train: --init %s: %s\n", o.init_name, fnet_result_string(r));
        goto done;
    }
    fprintf(stderr, "train: %s, %d trainable tensors:", fnet_network_id(net), fnet_trainer_trainable_count(tr));
    for (i = 0; i < fnet_trainer_trainable_count(tr); i++)
        fprintf(stderr, "%s%s", i ? "," : " ", fnet_trainer_trainable_name(tr, i));
    fprintf(stderr, "; trainer %.1f MB\n", fnet_trainer_memory(tr) / 1048576.0);

    /* 5. the settings hash (checkpoints: o.args holds every option that decides the weights), the frontier cache */
    {
        char key[6000];
        snprintf(key, sizeof key, "%s|%s|%d|%d|%d|%d", o.args, fnet_network_id(net), s.n_used, s.n_train_img, s.n_val_img,
                 TR_GRAD_SLOTS);
        hash = ec__fnv(14695981039346656037ULL, key, strlen(key));
        for (i = 0; i < d.n; i++) {
            hash = ec__fnv(hash, d.path[i], strlen(d.path[i]) + 1);
            hash = ec__fnv(hash, &d.status[i], sizeof d.status[i]);
        }
    }
    versions = o.jitter > 0 ? o.jitter : 1;
    chip_bytes = (size_t)size * size * 3;
    fsize = o.no_cache ? 0 : fnet_trainer_frontier_size(tr);
    row_floats = fsize ? fsize : chip_bytes;
    if (fsize) {
        double mb = (double)s.n_train_img * versions * fsize * 4 / 1048576.0;
        cache = (float *)malloc(sizeof(float) * fsize * versions * (size_t)s.n_train_img);
        have = (unsigned char *)calloc((size_t)s.n_train_img * versions, 1);
        if (!cache || !have) {
            fprintf(stderr, "fnet: train: the frontier cache needs %.0f MB; --no-cache recomputes the frozen layers every step instead\n", mb);
            goto done;
        }
        fprintf(stderr, "train: frontier: %lu floats per image (input %lu); cache up to %.1f MB (%d images x %d %s), filled as images are first used\n",
                (unsigned long)fsize, (unsigned long)chip_bytes, mb, s.n_train_img, versions, versions > 1 ? "jitter copies" : "copy");
    } else {
        fprintf(stderr, "train: %s: every step runs the whole network\n",
                o.no_cache ? "--no-cache" : "every op trains");
    }
    bc.tr = tr; bc.d = &d; bc.s = &s; bc.size = size; bc.versions = versions; bc.jitter = o.jitter; bc.seed = o.seed;
    bc.fsize = fsize; bc.chip_bytes = chip_bytes; bc.cache = cache; bc.have = have;
    bc.res = (fnet_result *)malloc(sizeof(fnet_result) * (size_t)B);
    bc.computed = (int *)malloc(sizeof(int) * (size_t)B);
    if (!bc.res || !bc.computed) goto done;

    inputs = (float *)malloc(sizeof(float) * row_floats * (size_t)B);
    batch_img = (int *)malloc(sizeof(int) * (size_t)B);
    labels = (int *)malloc(sizeof(int) * (size_t)B);
    order = (int *)malloc(sizeof(int) * (size_t)(s.n_train_multi + 1));
    singles = (int *)malloc(sizeof(int) * (size_t)(s.n_singles + 1));
    pick = (int *)malloc(sizeof(int) * (size_t)(d.n + 1));
    h.epoch_loss = (float *)malloc(sizeof(float) * (size_t)(o.epochs + 1));
    h.val = (float *)malloc(sizeof(float) * (size_t)(o.epochs + 2));
    if (!inputs || !batch_img || !labels || !order || !singles || !pick || !h.epoch_loss || !h.val) goto done;
    if (o.loss_mode != TR_LOSS_TRIPLET) {
        dw.emb = (float *)malloc(sizeof(float) * EC_DIM * (size_t)B);
        dw.grad = (float *)malloc(sizeof(float) * EC_DIM * (size_t)B);
        dw.dgrad = (float *)malloc(sizeof(float) * EC_DIM * (size_t)B);
        dw.teach = (float *)malloc(sizeof(float) * EC_DIM * (size_t)B);
        if (!dw.emb || !dw.grad || !dw.dgrad || !dw.teach) goto done;
    }

    /* 6. resume, or the accuracy before training */
    if (o.resume) {
        tr_hist old;
        memset(&old, 0, sizeof old);
        start_epoch = tr__load_checkpoint(o.resume, tr, hash, &rng, &old);
        if (start_epoch < 0) { free(old.loss); free(old.epoch_loss); free(old.val); goto done; }
        if (start_epoch > o.epochs) start_epoch = o.epochs;
        for (i = 0; i < old.n_loss; i++) tr__push(&h.loss, &h.n_loss, &h.cap_loss, old.loss[i]);
        for (i = 0; i < start_epoch; i++) h.epoch_loss[i] = old.epoch_loss[i];
        for (i = 0; i <= start_epoch; i++) h.val[i] = old.val[i];
        h.n_epochs = start_epoch;
        free(old.loss); free(old.epoch_loss); free(old.val);
        if (rng != tr__stream(o.seed, TR_STREAM_EPOCH, (unsigned long long)start_epoch, 0)) {
            fprintf(stderr, "fnet: train: %s: the generator state does not match epoch %d\n", o.resume, start_epoch);
            goto done;
        }
        fprintf(stderr, "train: resumed from %s after epoch %d (step %lld)\n", o.resume, start_epoch,
                fnet_trainer_step_count(tr));
    } else {
        t0 = now_ms();
        h.val[0] = (float)tr__validate(tr, &d, &s, &pool, &thr);
        val_ms += now_ms() - t0;
        if (h.val[0] < -1.5f) {
            if (h.val[0] < -2.5f) fprintf(stderr, "fnet: train: the network's embeddings are not finite before training\n");
            goto done;
        }
        if (h.val[0] >= 0) fprintf(stderr, "train: before training: validation accuracy %.2f%% (threshold %.3f)\n", 100 * h.val[0], thr);
    }

    /* 7. epochs */
    for (epoch = start_epoch; epoch < o.epochs && !stopped; epoch++) {
        int step, n_single_next = 0;
        double loss_sum = 0, win_t0 = now_ms(), win_images = 0, ep_input = input_ms, ep_step = step_ms, ep_images = (double)images_trained, ep_cpu = cpu_ms;
        int version = o.jitter > 0 ? epoch % o.jitter : 0;
        rng = tr__stream(o.seed, TR_STREAM_EPOCH, (unsigned long long)epoch, 0);
        memcpy(order, s.train_multi, sizeof(int) * (size_t)s.n_train_multi);
        memcpy(singles, s.singles, sizeof(int) * (size_t)s.n_singles);
        tr__shuffle(order, s.n_train_multi, &rng);
        tr__shuffle(singles, s.n_singles, &rng);
        for (step = 0; step < steps_per_epoch; step++) {
            int nb = 0, p, k, nt = 0, na = 0, fill;
            float loss = 0;
            double ts = now_ms(), t1, c0 = tr__cpu_ms();
            /* P people, up to K random images each (a partial Fisher-Yates over the person's images) */
            for (p = 0; p < o.people; p++) {
                int person = order[step * o.people + p], cnt = s.count[person];
                int take = cnt < o.per_person ? cnt : o.per_person;
                memcpy(pick, s.img + s.first[person], sizeof(int) * (size_t)cnt);
                for (k = 0; k < take && nb < B; k++) {
                    int j = k + tr__below(&rng, cnt - k), t = pick[k];
                    pick[k] = pick[j];
                    pick[j] = t;
                    batch_img[nb] = pick[k];
                    labels[nb++] = person;
                }
            }
            /* negatives: one-image people, in the epoch's shuffled order, none twice in a batch */
            fill = B - nb < s.n_singles ? B - nb : s.n_singles;
            for (k = 0; k < fill; k++) {
                int person = singles[n_single_next++ % s.n_singles];
                batch_img[nb] = s.img[s.first[person]];
                labels[nb++] = person;
            }
            bc.version = version;
            bc.img = batch_img;
            bc.inputs = inputs;
            tp_run(&pool, nb, tr__batch_task, &bc);
            for (k = 0; k < nb && bc.res[k] == FNET_OK; k++) frontiers += bc.computed[k];
            if (k < nb) {
                fprintf(stderr, "fnet: train: %s: %s\n", d.path[batch_img[k]], fnet_result_string(bc.res[k]));
                goto done;
            }
            t1 = now_ms();
            input_ms += t1 - ts;
            if (o.loss_mode == TR_LOSS_TRIPLET)
                r = fnet_trainer_step_triplet(tr, inputs, fsize ? 1 : 0, labels, nb, o.alpha, o.mining, &loss, &nt, &na);
            else
                r = tr__step_distill(tr, &o, &d, &dw, inputs, fsize ? 1 : 0, batch_img, labels, nb, &loss, &dloss, &nt, &na);
            step_ms += now_ms() - t1;
            train_ms += now_ms() - ts;
            cpu_ms += tr__cpu_ms() - c0;
            if (o.loss_mode != TR_LOSS_TRIPLET) snprintf(dl_text, sizeof dl_text, " (distill 1-r %.4f)", dloss);
            if (r == FNET_ERR_NOT_FINITE || (r == FNET_OK && !isfinite(loss))) {
                const char *t = fnet_trainer_error_detail(tr);
                if (cr_pending) fputc('\n', stderr);
                fprintf(stderr, "fnet: train: epoch %d step %d (step %lld of the run): ", epoch + 1, step + 1,
                        (long long)epoch * steps_per_epoch + step + 1);
                if (r == FNET_OK) fprintf(stderr, "the loss is %g", loss);
                else if (*t) fprintf(stderr, "the update was refused: a gradient or new weight of %s is not finite", t);
                else fprintf(stderr, "the loss, a gradient or a new weight is not finite");
                tr__diverged(&o, last_ckpt, start_epoch);
                goto done;
            }
            if (r != FNET_OK) {
                if (cr_pending) fputc('\n', stderr);
                fprintf(stderr, "fnet: train: epoch %d step %d: %s%s%s\n", epoch + 1, step + 1, fnet_result_string(r),
                        *fnet_trainer_error_detail(tr) ? ": " : "", fnet_trainer_error_detail(tr));
                goto done;
            }
            tr__push(&h.loss, &h.n_loss, &h.cap_loss, loss);
            loss_sum += loss;
            images_trained += nb;
            win_images += nb;
            steps_run++;
            if ((step + 1) % o.log_every == 0 || step + 1 == steps_per_epoch) {
                double now = now_ms(), left = (double)(o.epochs - epoch) * steps_per_epoch - step - 1;
                char eta[32];
                tr__eta(eta, sizeof eta, left * train_ms / steps_run);
                fprintf(stderr, "train: epoch %d/%d step %d/%d loss %.4f%s active %d/%d triplets %.1f images/s ETA %s%s",
                        epoch + 1, o.epochs, step + 1, steps_per_epoch, loss, o.loss_mode == TR_LOSS_TRIPLET ? "" : dl_text, na, nt,
                        win_images * 1000.0 / (now - win_t0 > 1e-9 ? now - win_t0 : 1e-9), eta, tty ? "\033[K\r" : "\n");
                cr_pending = tty;
                win_t0 = now;
                win_images = 0;
            }
        }
        h.epoch_loss[epoch] = (float)(loss_sum / steps_per_epoch);
        t0 = now_ms();
        h.val[epoch + 1] = (float)tr__validate(tr, &d, &s, &pool, &thr);
        val_ms += now_ms() - t0;
        h.n_epochs = epoch + 1;
        if (cr_pending) fputc('\n', stderr);
        cr_pending = 0;
        if (h.val[epoch + 1] < -2.5f) {
            fprintf(stderr, "fnet: train: after epoch %d the network's embeddings are no longer finite", epoch + 1);
            tr__diverged(&o, last_ckpt, start_epoch);
            goto done;
        }
        if (h.val[epoch + 1] < -1.5f) goto done;
        fprintf(stderr, "train: epoch %d/%d: mean loss %.4f, %.1f images/s, %.2f CPU ms/image (per step: inputs %.1f ms, trainer %.1f ms)",
                epoch + 1, o.epochs, h.epoch_loss[epoch],
                (images_trained - ep_images) * 1000.0 / (input_ms - ep_input + step_ms - ep_step + 1e-9),
                (cpu_ms - ep_cpu) / (images_trained - ep_images + 1e-9),
                (input_ms - ep_input) / steps_per_epoch, (step_ms - ep_step) / steps_per_epoch);
        if (h.val[epoch + 1] >= 0) fprintf(stderr, ", validation accuracy %.2f%% (threshold %.3f)", 100 * h.val[epoch + 1], thr);
        fprintf(stderr, "\n");
        rng = tr__stream(o.seed, TR_STREAM_EPOCH, (unsigned long long)epoch + 1, 0); /* where the next epoch starts */
        if (o.checkpoint) {
            if (!tr__save_checkpoint(o.checkpoint, tr, hash, epoch + 1, rng, &h)) goto done;
            last_ckpt = epoch + 1;
        }
        if (o.stop_after && epoch + 1 >= o.stop_after && epoch + 1 < o.epochs) stopped = 1;
    }
    if (o.plot && h.n_epochs > 0) {
        char title[160];
        snprintf(title, sizeof title, "%s, %d images", out_id, s.n_train_img);
        if (!tr__plot(o.plot, &h, steps_per_epoch, title,
                      o.loss_mode == TR_LOSS_BOTH ? "triplet + distillation loss: steps, epoch mean"
                      : o.loss_mode == TR_LOSS_DISTILL ? "distillation loss: steps, epoch mean"
                                                       : "triplet loss: steps, epoch mean"))
            goto done;
    }
    if (stopped) {
        fprintf(stderr, "train: stopped after epoch %d as asked (--stop-after); resume with --resume %s\n", h.n_epochs,
                o.checkpoint ? o.checkpoint : "CKPT");
        rc = 0;
        goto summary;
    }

    /* 8. the trained blob */
    {
        const char *keys[4] = {"network", "train_data", "train_seed", "train_args"};
        const char *vals[4];
        snprintf(data_meta, sizeof data_meta, "%s (%d images listed, %d used: %d for training, %d for validation)", o.data,
                 d.n, s.n_used, s.n_train_img, s.n_val_img);
        snprintf(seed_meta, sizeof seed_meta, "%llu", o.seed);
        vals[0] = out_id;
        vals[1] = data_meta;
        vals[2] = seed_meta;
        vals[3] = o.args;
        r = fnet_trainer_save_blob_file(tr, keys, vals, 4, o.out);
        if (r != FNET_OK) {
            fprintf(stderr, "fnet: train: cannot write %s: %s%s%s\n", o.out, fnet_result_string(r),
                    *fnet_trainer_error_detail(tr) ? ": " : "", fnet_trainer_error_detail(tr));
            goto done;
        }
    }
    rc = 0;
summary:
    printf("{\"out\":");
    json_string(stdout, stopped ? "" : o.out);
    printf(",\"network\":");
    json_string(stdout, out_id);
    printf(",\"from\":");
    json_string(stdout, fnet_network_id(net));
    printf(",\"images\":%d,\"used\":%d,\"skipped\":%d,\"people\":%d,\"people_multi\":%d,\"people_single\":%d,"
           "\"train_images\":%d,\"val_images\":%d,\"val_pairs\":%d,\"epochs\":%d,\"steps_per_epoch\":%d,\"steps\":%lld,"
           "\"frontier_floats\":%lu,\"cached\":%s,\"threads\":%d,\"loss\":\"%s\",\"init\":\"%s\",\"excluded_people\":%d,"
           "\"excluded_images\":%d,\"cache_hits\":%d,",
           d.n, s.n_used, d.n - s.n_used, s.n_people_used, s.n_multi, s.n_single, s.n_train_img, s.n_val_img, s.n_pairs,
           h.n_epochs, steps_per_epoch, fnet_trainer_step_count(tr), (unsigned long)fsize, fsize ? "true" : "false",
           pool.threads, o.loss_mode == TR_LOSS_TRIPLET ? "triplet" : o.loss_mode == TR_LOSS_DISTILL ? "distill" : "both",
           o.init_name, d.n_excluded_people, d.n_excluded_images, d.cache_hits);
    printf("\"epoch_loss\":[");
    for (i = 0; i < h.n_epochs; i++) printf(i ? ",%.6g" : "%.6g", h.epoch_loss[i]);
    printf("],\"val_accuracy\":[");
    for (i = 0; i <= h.n_epochs; i++) printf(i ? ",%.6g" : "%.6g", h.val[i] < 0 ? -1.0 : h.val[i]);
    printf("],\"prepare_ms\":%.1f,\"input_ms\":%.1f,\"frontiers_computed\":%lld,\"step_ms\":%.1f,\"train_ms\":%.1f,"
           "\"val_ms\":%.1f,\"train_cpu_ms\":%.1f,\"images_per_s\":%.2f,\"ms_per_step\":%.2f,\"trainer_bytes\":%lu}\n",
           prep_ms, input_ms, frontiers, step_ms, train_ms, val_ms, cpu_ms, train_ms > 0 ? images_trained * 1000.0 / train_ms : 0.0,
           steps_run ? train_ms / steps_run : 0.0, (unsigned long)fnet_trainer_memory(tr));
done:
    fnet_trainer_free(tr);
    fnet_model_free(net);
    tr__data_free(&d);
    tr__split_free(&s);
    free(h.loss); free(h.epoch_loss); free(h.val);
    free(dw.emb); free(dw.grad); free(dw.dgrad); free(dw.teach);
    free(cache); free(have); free(bc.res); free(bc.computed); free(inputs); free(batch_img); free(labels); free(order); free(singles); free(pick);
    tp_stop(&pool);
    return rc;
}

static int cli_train_dispatch(const char *cmd, int argc, char **argv) {
    if (strcmp(cmd, "train") == 0) return cmd_train(argc, argv);
    return -1;
}
