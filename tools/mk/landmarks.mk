# Landmarks and alignment: reference programs built against dlib, golden files, bench.
# Only needed to regenerate the committed goldens; they need libdlib-dev (and libdlib-data).
#   make golden-shape-dump   tests/golden/dlib_shape_dump.txt  (parser golden values)
#   make golden-landmarks    tests/golden/dlib_landmarks_up1.jsonl, dlib_landmarks_lfpw.jsonl
#   make golden-chips        tests/golden/dlib_chips.jsonl (dlib's own 150 px face chips)
# References are built with -O2 -ffp-contract=off and no -march=native: FMA contraction
# changes dlib's float results (and so its rounded points).
DLIB_CXX   ?= g++
DLIB_FLAGS  = -std=c++14 -O2 -ffp-contract=off -I/usr/include/stb
DLIB_LIBS   = -ldlib -llapack -lblas -lpthread
DLIB_DAT   ?= /usr/share/dlib/shape_predictor_68_face_landmarks.dat

.PHONY: golden-shape-dump golden-landmarks golden-train-shape landmarks5

build/dlib_dump_shape: tools/reference/dlib_dump_shape.cpp
	@mkdir -p build
	$(DLIB_CXX) $(DLIB_FLAGS) $< -o $@ $(DLIB_LIBS)

golden-shape-dump: build/dlib_dump_shape
	build/dlib_dump_shape $(DLIB_DAT) > tests/golden/dlib_shape_dump.txt.tmp
	mv tests/golden/dlib_shape_dump.txt.tmp tests/golden/dlib_shape_dump.txt

SHARED_DATA ?= ../shared/data
GOLDEN_DIRS = dlib-examples openface-examples face_recognition-examples faceapi-samples wider-val-dev

build/dlib_ref_landmarks: tools/reference/dlib_ref_landmarks.cpp
	@mkdir -p build
	$(DLIB_CXX) $(DLIB_FLAGS) $< -o $@ $(DLIB_LIBS)

golden-landmarks: build/dlib_ref_landmarks
	cd $(SHARED_DATA) && find $(GOLDEN_DIRS) -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | LC_ALL=C sort > $(CURDIR)/build/golden_landmarks.list
	build/dlib_ref_landmarks photos $(SHARED_DATA) $(DLIB_DAT) $$(cat build/golden_landmarks.list) > tests/golden/dlib_landmarks_up1.jsonl.tmp
	mv tests/golden/dlib_landmarks_up1.jsonl.tmp tests/golden/dlib_landmarks_up1.jsonl
	build/dlib_ref_landmarks lfpw $(SHARED_DATA) $(DLIB_DAT) > tests/golden/dlib_landmarks_lfpw.jsonl.tmp
	mv tests/golden/dlib_landmarks_lfpw.jsonl.tmp tests/golden/dlib_landmarks_lfpw.jsonl

# dlib's own 150x150 face chips (get_face_chip_details + extract_image_chip) of the faces
# tests/test_align.py compares: their checksums, tests/golden/dlib_chips.jsonl.
.PHONY: golden-chips
build/dlib_ref_chips: tools/reference/dlib_ref_chips.cpp
	@mkdir -p build
	$(DLIB_CXX) $(DLIB_FLAGS) $< -o $@ $(DLIB_LIBS)

golden-chips: build/dlib_ref_chips
	build/dlib_ref_chips $(SHARED_DATA) tests/golden/dlib_landmarks_up1.jsonl > tests/golden/dlib_chips.jsonl.tmp
	mv tests/golden/dlib_chips.jsonl.tmp tests/golden/dlib_chips.jsonl

# Shape predictor training: dlib's trainer on the same data, for tools/bench/bench_train_landmarks.sh.
build/dlib_train_shape: tools/reference/dlib_train_shape.cpp
	@mkdir -p build
	$(DLIB_CXX) $(DLIB_FLAGS) $< -o $@ $(DLIB_LIBS)

# tests/golden/dlib_train_shape_ex.jsonl: dlib's trainer on its example, 100 trees per cascade, seeds 0-4
# (tests/test_train_landmarks_dlib.py compares fnet train-landmarks with their mean). Minutes.
golden-train-shape: build/dlib_train_shape
	for s in 0 1 2 3 4; do build/dlib_train_shape $(SHARED_DATA)/dlib-examples/training_with_face_landmarks.xml \
	  $(SHARED_DATA)/dlib-examples/testing_with_face_landmarks.xml --oversampling 300 --nu 0.05 --depth 2 \
	  --trees 100 --threads 2 --seed $$s || exit 1; done > tests/golden/dlib_train_shape_ex.jsonl.tmp
	mv tests/golden/dlib_train_shape_ex.jsonl.tmp tests/golden/dlib_train_shape_ex.jsonl

# weights/landmarks5.fnet: a 5-point predictor (dlib's 5-point scheme: eye corners and nose base)
# trained by fnet train-landmarks on lfw-train faces labelled by the 68-point model
# (tools/convert/lfw5_xml.py; the labels come from the iBUG-trained model). About 2.5 minutes on 2 threads.
landmarks5: build/fnet
	python3 tools/convert/lfw5_xml.py $(SHARED_DATA) build/lfw5
	build/fnet train-landmarks build/lfw5/lfw5_train.xml $(FNET_WEIGHTS)/landmarks5.fnet --threads 2
	build/fnet test-landmarks $(FNET_WEIGHTS)/landmarks5.fnet build/lfw5/lfw5_test.xml
