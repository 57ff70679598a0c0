// Dumps numbers from dlib's shape predictor, read by dlib's own deserialize(), so that
// tests/test_dlib_shape.py can check tools/convert/dlib_shape.py against dlib (golden values:
// tests/golden/dlib_shape_dump.txt). Build and run: make -f tools/mk/landmarks.mk golden-shape-dump
#include <dlib/image_processing/shape_predictor.h>
#include <cstdio>
using namespace dlib;
int main(int argc, char **argv) {
    shape_predictor sp;
    deserialize(argc > 1 ? argv[1] : "/usr/share/dlib/shape_predictor_68_face_landmarks.dat") >> sp;
    // shape_predictor's members are private: write it out and read the members back with
    // dlib's deserialize() for their types (the same layout its serialize() uses).
    std::ostringstream os;
    serialize(sp, os);
    std::istringstream is(os.str());
    int version; matrix<float, 0, 1> init;
    std::vector<std::vector<impl::regression_tree> > forests;
    std::vector<std::vector<unsigned long> > anchor;
    std::vector<std::vector<dlib::vector<float, 2> > > deltas;
    deserialize(version, is); deserialize(init, is); deserialize(forests, is);
    deserialize(anchor, is); deserialize(deltas, is);
    std::printf("sizes %lu %lu %lu %lu %lu\n", (unsigned long)forests.size(), (unsigned long)forests[0].size(),
                (unsigned long)forests[0][0].splits.size(), (unsigned long)forests[0][0].leaf_values.size(),
                (unsigned long)anchor[0].size());
    std::printf("initial");
    for (long i = 0; i < init.size(); i++) std::printf(" %.9g", init(i));
    std::printf("\n");
    double sum = 0, asum = 0; long zeros = 0;
    for (size_t c = 0; c < forests.size(); c++)
        for (size_t t = 0; t < forests[c].size(); t++)
            for (size_t l = 0; l < forests[c][t].leaf_values.size(); l++)
                for (long k = 0; k < forests[c][t].leaf_values[l].size(); k++) {
                    double v = forests[c][t].leaf_values[l](k);
                    sum += v; asum += v < 0 ? -v : v; zeros += v == 0;
                }
    std::printf("leafsum %.17g %.17g %ld\n", sum, asum, zeros);
    const size_t picks[4][2] = {{0, 0}, {0, 499}, {7, 123}, {14, 499}};
    for (int q = 0; q < 4; q++) {
        const impl::regression_tree &tr = forests[picks[q][0]][picks[q][1]];
        std::printf("tree %lu %lu splits", (unsigned long)picks[q][0], (unsigned long)picks[q][1]);
        for (size_t s = 0; s < tr.splits.size(); s++)
            std::printf(" %lu,%lu,%.9g", tr.splits[s].idx1, tr.splits[s].idx2, tr.splits[s].thresh);
        std::printf("\n");
        for (int l = 0; l < 16; l += 5) {
            std::printf("leaf %lu %lu %d", (unsigned long)picks[q][0], (unsigned long)picks[q][1], l);
            for (long k = 0; k < tr.leaf_values[l].size(); k++) std::printf(" %.9g", tr.leaf_values[l](k));
            std::printf("\n");
        }
    }
    for (size_t c = 0; c < anchor.size(); c += 7) {
        std::printf("anchor %lu", (unsigned long)c);
        for (size_t i = 0; i < anchor[c].size(); i += 1) std::printf(" %lu", anchor[c][i]);
        std::printf("\ndelta %lu", (unsigned long)c);
        for (size_t i = 0; i < deltas[c].size(); i += 1) std::printf(" %.9g,%.9g", deltas[c][i].x(), deltas[c][i].y());
        std::printf("\n");
    }
    return 0;
}
