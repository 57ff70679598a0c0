#!/usr/bin/env python3
"""Leave-one-fold-out LFW score of models trained without one fold's people each.

    tools/eval/lofo_eval.py DIST_1.txt DIST_2.txt ... DIST_K.txt

DIST_k.txt is `fnet eval-lfw --save-distances` of model k, the model trained without the
people of fold k (`fnet train --exclude-pairs PAIRS --exclude-fold k`), over all the folds of
the same pairs.txt ("fold same distance image1 image2 miss1 miss2" lines, folds from 0).

Fold k is scored from model k's distances only: the threshold is the one that maximises
accuracy on the OTHER folds' pairs of the same model (their people were in model k's training
pool, so choosing a threshold there uses no test information), candidates the midpoints
between consecutive sorted distances, the first best one (as fnet eval-lfw); fold k's
accuracy is measured with it ("same" when distance < threshold). The AUC of fold k is that of
model k's distances on fold k's pairs (ties count half). Reported: mean and population
standard deviation over folds of the accuracy, the mean AUC, the thresholds; one JSON object
on stdout. Standard library only."""
import json
import math
import sys


def read(path):
    rows = []
    with open(path) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            t = line.split()
            rows.append((int(t[0]), int(t[1]), float(t[2])))
    return rows


def best_threshold(rows):
    """Midpoint threshold that maximises accuracy on rows (the first best one)."""
    pts = sorted(rows, key=lambda r: r[2])
    n_same = sum(1 for r in pts if r[1])
    n = len(pts)
    # threshold below everything: all "different"
    best_acc, best_t = (n - n_same) / n, pts[0][2] - 1e-6
    same_below = 0
    for i in range(n - 1):
        same_below += pts[i][1]
        if pts[i][2] == pts[i + 1][2]:
            continue
        below = i + 1
        correct = same_below + (n - n_same) - (below - same_below)
        if correct / n > best_acc:
            best_acc, best_t = correct / n, (pts[i][2] + pts[i + 1][2]) / 2
    return best_t, best_acc


def accuracy(rows, t):
    return sum(1 for r in rows if (r[2] < t) == bool(r[1])) / len(rows)


def auc(rows):
    same = [r[2] for r in rows if r[1]]
    diff = [r[2] for r in rows if not r[1]]
    if not same or not diff:
        return float("nan")
    pts = sorted([(d, 1) for d in same] + [(d, 0) for d in diff])
    # Mann-Whitney: P(same distance < different distance), ties half
    rank_sum, i = 0.0, 0
    while i < len(pts):
        j = i
        while j < len(pts) and pts[j][0] == pts[i][0]:
            j += 1
        r = (i + 1 + j) / 2.0
        rank_sum += r * sum(1 for k in range(i, j) if pts[k][1] == 0)
        i = j
    u = rank_sum - len(diff) * (len(diff) + 1) / 2.0
    return u / (len(same) * len(diff))


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        return 2
    files = argv[1:]
    folds = []
    for k, path in enumerate(files):
        rows = read(path)
        test = [r for r in rows if r[0] == k]
        train = [r for r in rows if r[0] != k]
        if not test or not train:
            sys.stderr.write("lofo_eval: %s has no pairs of fold %d or of the other folds\n" % (path, k + 1))
            return 1
        t, train_acc = best_threshold(train)
        folds.append({"fold": k + 1, "model_distances": path, "pairs": len(test), "threshold": t,
                      "threshold_pool_accuracy": train_acc, "accuracy": accuracy(test, t), "auc": auc(test)})
    accs = [f["accuracy"] for f in folds]
    mean = sum(accs) / len(accs)
    sd = math.sqrt(sum((a - mean) ** 2 for a in accs) / len(accs))
    out = {"folds": folds, "accuracy_mean": mean, "accuracy_std": sd,
           "auc_mean": sum(f["auc"] for f in folds) / len(folds),
           "threshold_mean": sum(f["threshold"] for f in folds) / len(folds)}
    sys.stderr.write("leave-one-fold-out: %.2f%% +- %.2f, AUC %.4f (%s)\n" % (
        100 * mean, 100 * sd, out["auc_mean"],
        ", ".join("fold %d %.2f%% at %.3f" % (f["fold"], 100 * f["accuracy"], f["threshold"]) for f in folds)))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
