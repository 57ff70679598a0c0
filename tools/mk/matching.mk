# Matching: figures and benchmark.
#   make eval-match       identification/open-set rates, clustering P/R, classifier accuracy,
#                         deepface pairs and the verification threshold on LFW dev, through
#                         facenet.h's pipeline (tools/eval/eval_match.sh; both networks)
#   make eval-match-dlib  the same figures with dlib's detector, landmarks and face chips in
#                         front of facenet.h's ResNet (tools/reference/match_dlib_embed.cpp; needs dlib)
#   make triplet          the triplet-loss head example on LFW dev (examples/triplet_train.c)
#   make bench-match      fnet_identify over a 10k gallery vs numpy and dlib (also in make bench)
.PHONY: eval-match eval-match-dlib triplet bench-match
eval-match: all
	sh tools/eval/eval_match.sh
build/eval_match: tools/eval/eval_match.c facenet.h examples/embcache.h examples/jitter.h
	@mkdir -p build
	$(CC) -std=c99 $(WARN) -O2 $(INC) $< -o $@ -lm
ifneq ($(wildcard /usr/include/dlib/image_processing/frontal_face_detector.h),)
build/match_dlib_embed: tools/reference/match_dlib_embed.cpp facenet.h examples/embcache.h examples/jitter.h
	@mkdir -p build
	g++ -std=c++14 -O2 $(INC) $< -o $@ -ldlib -llapack -lblas -lpthread
eval-match-dlib: build/match_dlib_embed build/eval_match
	build/match_dlib_embed $(FNET_WEIGHTS) build/embcache-dlib $(SHARED)/data/lfw-dev/lfw-deepfunneled $(SHARED)/data/deepface-testset
	FNET_SHARED=$(SHARED) build/eval_match --net resnet --weights $(FNET_WEIGHTS) --cache build/embcache-dlib
else
eval-match-dlib:
	@echo "eval-match-dlib: dlib is not installed (apt-get install libdlib-dev libdlib-data)"
endif
triplet: build/triplet_train
	build/triplet_train --net resnet
	build/triplet_train --net nn4
bench-match:
	sh tools/bench/bench_match.sh
