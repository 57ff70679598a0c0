# Matching (issue 8): figures and benchmark.
#   make eval-match    identification/open-set rates, clustering P/R, classifier accuracy and the
#                      verification threshold on LFW dev (tools/eval_match.sh; both networks)
#   make triplet       the triplet-loss head example on LFW dev (examples/triplet_train.c)
#   make bench-match   fnet_identify over a 10k gallery vs numpy and dlib (also in make bench)
.PHONY: eval-match triplet bench-match
eval-match: all
	sh tools/eval_match.sh
triplet: build/triplet_train
	build/triplet_train --net resnet
	build/triplet_train --net nn4
bench-match:
	sh tools/bench_match.sh
