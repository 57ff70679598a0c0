# HOG detector training (issue 15): dlib's trainer as the reference.
#   build/dlib_train_detector   dlib's structural_object_detection_trainer on an imglab XML
#                               (tools/dlib_train_detector.cpp; needs libdlib-dev)
ifneq ($(wildcard /usr/include/dlib/svm/structural_object_detection_trainer.h),)
build/dlib_train_detector: tools/dlib_train_detector.cpp
	@mkdir -p build
	g++ -O2 -ffp-contract=off -I/usr/include/stb $< -o $@ -ldlib -llapack -lblas -lpthread
endif
