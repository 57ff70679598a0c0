# Open-set identification at a target false-accept rate.
#   make impostor-table  the ResNet's impostor distance and cohort tables, measured on the LFW
#                        people of lfw-train outside lfw-dev, printed as facenet.h's
#                        initialisers: for plain galleries (fnet enroll --jitter 0), then for
#                        galleries of 10-jitter embeddings against plain probes (the default)
#   make eval-identify   identification at FAR 1% and 5% on LFW dev people (never in the
#                        tables), galleries of 10 to 1,000 people enrolled as fnet enroll does
#                        (10 jitters), plain distances and cohort-normalised scores
#                        (tools/eval/eval_identify.c); make eval-identify-plain: plain galleries
#   make cohort          the ResNet's cohort for fnet_identify_cohort: the table's photos as a
#                        gallery file, $(FNET_WEIGHTS)/resnet34-dlib.cohort (fnet identify uses
#                        it when it is there; make test and make demo build it)
.PHONY: impostor-table eval-identify eval-identify-plain cohort
build/eval_identify: tools/eval/eval_identify.c facenet.h examples/embcache.h examples/jitter.h
	@mkdir -p build
	$(CC) -std=c99 $(WARN) -O2 $(INC) $< -o $@ -lm
impostor-table: build/eval_identify
	FNET_SHARED=$(SHARED) build/eval_identify --net resnet --weights $(FNET_WEIGHTS) --table
	FNET_SHARED=$(SHARED) build/eval_identify --net resnet --weights $(FNET_WEIGHTS) --table --gallery-jitter 10
eval-identify: build/eval_identify
	FNET_SHARED=$(SHARED) build/eval_identify --net resnet --weights $(FNET_WEIGHTS) --trials 20 --far 0.01 --gallery-jitter 10
	FNET_SHARED=$(SHARED) build/eval_identify --net resnet --weights $(FNET_WEIGHTS) --trials 20 --far 0.05 --gallery-jitter 10
eval-identify-plain: build/eval_identify
	FNET_SHARED=$(SHARED) build/eval_identify --net resnet --weights $(FNET_WEIGHTS) --trials 20 --far 0.01
	FNET_SHARED=$(SHARED) build/eval_identify --net resnet --weights $(FNET_WEIGHTS) --trials 20 --far 0.05
cohort: $(FNET_WEIGHTS)/resnet34-dlib.cohort
$(FNET_WEIGHTS)/resnet34-dlib.cohort: $(FNET_WEIGHTS)/resnet34.fnet | build/eval_identify
	FNET_SHARED=$(SHARED) build/eval_identify --net resnet --weights $(FNET_WEIGHTS) --table --write-cohort $@ > build/cohort.log
	@grep "^cohort:" build/cohort.log
