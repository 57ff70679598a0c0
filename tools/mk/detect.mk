# Face detection: dlib reference goldens and the detection benchmark helpers.
#   make golden-detect   rebuild tests/golden/dlib_detect_{,gray_}up{0,1}.jsonl and
#                        tests/golden/dlib_detector_weights.txt from dlib (needs libdlib-dev)
DLIB_LIBS = -ldlib -llapack -lblas -lpthread
# -ffp-contract=off: FMA contraction changes dlib's boxes; keep the goldens plain IEEE.
DLIB_REF_FLAGS = -O2 -ffp-contract=off
DETECT_GOLDEN_SETS = data/wider-val-dev data/faceapi-samples data/dlib-examples \
                     data/openface-examples data/face_recognition-examples
# gray input (8-bit, dlib's unsigned char path): a smaller set
DETECT_GRAY_SETS = data/dlib-examples data/openface-examples

.PHONY: golden-detect
ifneq ($(wildcard /usr/include/dlib/image_processing/frontal_face_detector.h),)
build/dlib_dump_detector: tools/reference/dlib_dump_detector.cpp
	@mkdir -p build
	g++ $(DLIB_REF_FLAGS) $< -o $@ $(DLIB_LIBS)

build/dlib_ref_detect: tools/reference/dlib_ref_detect.cpp
	@mkdir -p build
	g++ $(DLIB_REF_FLAGS) -I/usr/include/stb $< -o $@ $(DLIB_LIBS)

golden-detect: build/dlib_dump_detector build/dlib_ref_detect
	@mkdir -p tests/golden
	build/dlib_dump_detector > tests/golden/dlib_detector_weights.txt
	build/dlib_ref_detect $(SHARED) 0 $(DETECT_GOLDEN_SETS) > tests/golden/dlib_detect_up0.jsonl
	build/dlib_ref_detect $(SHARED) 1 $(DETECT_GOLDEN_SETS) > tests/golden/dlib_detect_up1.jsonl
	build/dlib_ref_detect $(SHARED) 0 --gray $(DETECT_GRAY_SETS) data/faceapi-samples > tests/golden/dlib_detect_gray_up0.jsonl
	build/dlib_ref_detect $(SHARED) 1 --gray $(DETECT_GRAY_SETS) > tests/golden/dlib_detect_gray_up1.jsonl
else
golden-detect:
	@echo "golden-detect: dlib is not installed (apt-get install libdlib-dev); goldens kept"
endif
