# nn4.small2.v1 with its five missing tensors re-learned by facenet.h's trainer;
# included by the Makefile.
#   make relearn        weights/nn4.small2.v1.relearned.fnet from make weights' blob on
#                       $(SHARED)/data/lfw-train/images.txt (deterministic, 2 threads, < 1 hour)
#   make relearn-eval   leave one fold out on $(SHARED)/data/lfw-dev: three trainings, each
#                       without one fold's people, scored by fnet eval-lfw + tools/eval/lofo_eval.py
.PHONY: relearn relearn-eval
relearn: build/fnet
	SHARED=$(SHARED) sh tools/eval/relearn.sh build

relearn-eval: build/fnet
	SHARED=$(SHARED) sh tools/eval/relearn.sh eval
