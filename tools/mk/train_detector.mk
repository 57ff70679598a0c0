# HOG detector training: dlib's trainer as the reference.
#   build/dlib_train_detector   dlib's structural_object_detection_trainer on an imglab XML
#                               (tools/reference/dlib_train_detector.cpp; needs libdlib-dev)
ifneq ($(wildcard /usr/include/dlib/svm/structural_object_detection_trainer.h),)
build/dlib_train_detector: tools/reference/dlib_train_detector.cpp
	@mkdir -p build
	g++ -O2 -ffp-contract=off -I/usr/include/stb $< -o $@ -ldlib -llapack -lblas -lpthread
endif

# tests/golden/dlib_train_detector.txt: dlib's detector trained on dlib-examples with the
# example's settings (gray, upsample 1, flips, C 1, epsilon 0.01), one thread (deterministic).
golden-train-detector: build/dlib_train_detector
	{ echo "# dlib's trained HOG detector on dlib-examples (tools/reference/dlib_train_detector.cpp, make golden-train-detector): gray, upsample 1, flips, C 1, epsilon 0.01, 80x80 window, padding 0; 1 thread"; \
	  build/dlib_train_detector $(SHARED)/data/dlib-examples/training.xml $(SHARED)/data/dlib-examples/testing.xml build/dlib_train_w.txt --gray --threads 1 && \
	  awk '{printf "%.9g\n", $$1}' build/dlib_train_w.txt; } > tests/golden/dlib_train_detector.txt
