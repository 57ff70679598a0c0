# nn4.small2.v1 helpers (included by the Makefile).
#   make nn4-fill-report   how the converter's fill of the five missing tensors behaves: cosine
#                          between different aligned faces, batch-norm input moments, and the
#                          OpenFace example distances next to the published ones, LFW dev
#                          verification accuracy of the filled blob on the C engine (~5 min)
.PHONY: nn4-fill-report
nn4-fill-report:
	FNET_SHARED=$${FNET_SHARED:-$(SHARED)} /usr/bin/python3 tools/eval/nn4_fill_report.py --faces 40 --openface --lfw
