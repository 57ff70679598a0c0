# ResNet-34 (dlib's face descriptor via face-api) helpers.
#   make resnet-golden   recompute tests/golden/faceapi_descriptors.json with face-api in Node
#                        (dlib chips cut from $(SHARED)/data; LFW landmarks by build/dlib_ref_landmarks)
#   make resnet-255      $(FNET_WEIGHTS)/resnet34_255.fnet: face-api's divisor, for comparisons
#   make resnet-node     npm install tfjs + wasm backend into build/node (for the two above, bench)
.PHONY: resnet-golden resnet-255 resnet-node
FACEAPI_DIR ?= weights/cache/face-api/package

build/node/node_modules/@tensorflow/tfjs-backend-wasm/package.json:
	npm install --silent --prefix build/node @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0
resnet-node: build/node/node_modules/@tensorflow/tfjs-backend-wasm/package.json

resnet-golden: resnet-node weights
	FNET_SHARED=$${FNET_SHARED:-$(SHARED)} /usr/bin/python3 tools/reference/make_resnet_golden.py --faceapi $(FACEAPI_DIR)

resnet-255: weights
	python3 tools/convert_weights.py faceapi $(FACEAPI_DIR)/model/face_recognition_model-weights_manifest.json \
	  $(FNET_WEIGHTS)/resnet34_255.fnet --divisor 255

# LFW verification through the whole pipeline on ../shared/data/lfw-dev (a few minutes):
#   make resnet-lfw [LFW_ARGS="--jitter 10"]   -> build/lfw/resnet.json, build/lfw/roc_resnet.png
.PHONY: resnet-lfw
LFW_DIR ?= $(SHARED)/data/lfw-dev
resnet-lfw: all
	@mkdir -p build/lfw
	build/fnet eval-lfw --pairs $(LFW_DIR)/pairs.txt --root $(LFW_DIR) --net resnet $(LFW_ARGS) \
	  --roc build/lfw/roc_resnet.png --save-distances build/lfw/resnet_distances.txt > build/lfw/resnet.json
	@cat build/lfw/resnet.json
