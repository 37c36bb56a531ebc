// Stored packed weights (`refusal pack`, model/packed_store.h): a stored file gives the very
// logits packing at load gives, bit for bit; a file that does not fit the model is refused with
// an error naming the file and the field; and the command end to end.
#include "model/packed_store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>

#include "kernels/packed_linear.h"
#include "refusal/engine.h"
#include "refusal/error.h"
#include "test_support.h"

namespace refusal {
namespace {

namespace fs = std::filesystem;
using Batch = std::vector<std::vector<std::int32_t>>;
const fs::path kModels = "tests/data/models";

Batch sequences(const std::string& vectors) {
  return testing::read_json(kModels / vectors).at("sequences").get<Batch>();
}

std::vector<float> logits(const Engine& engine, const Batch& batch) {
  std::vector<float> out;
  for (const auto& r : engine.classify(batch))
    out.insert(out.end(), r.logits.begin(), r.logits.end());
  return out;
}

// Bit-identical, not just close.
void expect_same_bits(const std::vector<float>& a, const std::vector<float>& b,
                      const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << what;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

void patch(const fs::path& file, std::size_t at, const void* bytes, std::size_t n) {
  std::string s = testing::read_text(file);
  ASSERT_LE(at + n, s.size());
  std::memcpy(s.data() + at, bytes, n);
  testing::write_text(file, s);
}

struct Case {
  std::string folder, vectors;
  DType dtype;
};

class RoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(RoundTrip, StoredGivesTheSameLogitsAsPackingAtLoad) {
  const Case& c = GetParam();
  testing::TempDir dir;
  const fs::path model = dir / "model";
  testing::copy_folder(kModels / c.folder, model);
  const Batch batch = sequences(c.vectors);

  const Engine packed_at_load = Engine::load(model.string(), {.threads = 2, .dtype = c.dtype});
  EXPECT_TRUE(packed_at_load.packed_weights_file().empty());
  const auto want = logits(packed_at_load, batch);

  const fs::path file = packed_at_load.save_packed_weights();
  EXPECT_EQ(file, model / (std::string("refusal-packed-") + dtype_name(c.dtype) + ".bin"));
  ASSERT_TRUE(fs::exists(file));
  EXPECT_EQ(fs::file_size(file) % 64, 0u);

  for (int threads : {1, 3}) {
    const Engine stored = Engine::load(model.string(), {.threads = threads, .dtype = c.dtype});
    EXPECT_EQ(stored.packed_weights_file(), file);
    EXPECT_EQ(stored.parameter_count(), packed_at_load.parameter_count());
    expect_same_bits(logits(stored, batch), want, c.folder + " threads " + std::to_string(threads));
  }
  // Disabled: packs at load again, the file is not looked at.
  const Engine off =
      Engine::load(model.string(), {.threads = 2, .dtype = c.dtype, .packed_weights = false});
  EXPECT_TRUE(off.packed_weights_file().empty());
  expect_same_bits(logits(off, batch), want, c.folder + " disabled");
  // Other dtypes have their own files: none stored, so they pack at load.
  const DType other = c.dtype == DType::kInt8 ? DType::kBf16 : DType::kInt8;
  EXPECT_TRUE(
      Engine::load(model.string(), {.threads = 1, .dtype = other}).packed_weights_file().empty());
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string name = info.param.folder + "_" + dtype_name(info.param.dtype);
  for (auto& ch : name) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(
    TinyModels, RoundTrip,
    ::testing::Values(Case{"tiny-roberta-f32", "tiny-roberta.vectors.json", DType::kInt8},
                      Case{"tiny-roberta-f32", "tiny-roberta.vectors.json", DType::kBf16},
                      Case{"tiny-roberta-f32", "tiny-roberta.vectors.json", DType::kFp32},
                      Case{"tiny-roberta-f16", "tiny-roberta.vectors.json", DType::kInt8},
                      Case{"tiny-roberta-bf16", "tiny-roberta.vectors.json", DType::kBf16},
                      Case{"tiny-roberta-sharded", "tiny-roberta.vectors.json", DType::kInt8},
                      Case{"tiny-bert-f32", "tiny-bert.vectors.json", DType::kInt8},
                      Case{"tiny-bert-f16", "tiny-bert.vectors.json", DType::kBf16}),
    case_name);

// A borrowed PackedLinear computes exactly what the one that packed the bytes does.
TEST(PackedLinearBorrow, SameOutputsAndChecksSize) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist;
  const std::size_t n = 70, k = 45, m = 5;
  std::vector<float> w(n * k), b(n), x(m * k);
  for (auto& v : w) v = dist(rng);
  for (auto& v : b) v = dist(rng);
  for (auto& v : x) v = dist(rng);
  using kernels::PackedLinear;
  using kernels::Precision;
  for (Precision p : {Precision::kFp32, Precision::kBf16, Precision::kInt8}) {
    auto own = std::make_shared<PackedLinear>(w.data(), b.data(), n, k, p);
    ASSERT_EQ(own->bytes(), PackedLinear::packed_size(n, k, p));
    const PackedLinear borrowed(own, own->packed_data(), own->bytes(), n, k, p);
    EXPECT_TRUE(borrowed.borrowed());
    EXPECT_FALSE(own->borrowed());
    EXPECT_EQ(borrowed.packed_data(), own->packed_data());  // no copy
    std::vector<float> y1(m * n), y2(m * n);
    own->forward(x.data(), k, m, y1.data(), n);
    borrowed.forward(x.data(), k, m, y2.data(), n);
    expect_same_bits(y1, y2, kernels::precision_name(p));
    EXPECT_THROW(PackedLinear(own, own->packed_data(), own->bytes() - 64, n, k, p), Error);
    EXPECT_THROW(PackedLinear(own, own->packed_data() + 32, own->bytes(), n, k, p), Error);
  }
}

// A stored int8 file in a copy of tiny-roberta-f32, for the tests that damage it.
class Damaged : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::copy_folder(kModels / "tiny-roberta-f32", model_);
    file_ =
        Engine::load(model_.string(), {.threads = 1, .dtype = DType::kInt8}).save_packed_weights();
  }
  std::string load_error(DType dtype = DType::kInt8) {
    return error_of([&] { Engine::load(model_.string(), {.threads = 1, .dtype = dtype}); });
  }
  // The message names the file and the field.
  void expect_error(const std::string& message, const std::string& field) {
    EXPECT_NE(message.find(file_.string()), std::string::npos) << message;
    EXPECT_NE(message.find(field), std::string::npos) << message;
  }

  testing::TempDir dir_;
  fs::path model_ = dir_ / "model";
  fs::path file_;
};

TEST_F(Damaged, ChangedModelIsStale) {
  // Same size, other weights: flip a byte near the end of model.safetensors (a tensor's data).
  const auto st = model_ / "model.safetensors";
  const auto size = fs::file_size(st);
  std::string s = testing::read_text(st);
  s[size - 10] = static_cast<char>(s[size - 10] ^ 0x40);
  testing::write_text(st, s);
  const auto e = load_error();
  expect_error(e, "source fingerprint");
  EXPECT_NE(e.find("refusal pack"), std::string::npos) << e;
  // Disabled, the stale file is ignored and the changed model loads.
  EXPECT_NO_THROW(Engine::load(model_.string(),
                               {.threads = 1, .dtype = DType::kInt8, .packed_weights = false}));
  // Packing again fixes it.
  Engine::load(model_.string(), {.threads = 1, .dtype = DType::kInt8, .packed_weights = false})
      .save_packed_weights();
  EXPECT_EQ(
      Engine::load(model_.string(), {.threads = 1, .dtype = DType::kInt8}).packed_weights_file(),
      file_);
}

TEST_F(Damaged, Truncated) {
  const std::string whole = testing::read_text(file_);
  for (std::size_t keep : {whole.size() - 100, std::size_t{500}, std::size_t{40}, std::size_t{0}}) {
    testing::write_text(file_, whole.substr(0, keep));
    expect_error(load_error(), "truncated");
  }
  testing::write_text(file_, whole + "extra");
  expect_error(load_error(), "file size");
}

TEST_F(Damaged, WrongMagic) {
  patch(file_, 0, "NOTAPACK", 8);
  expect_error(load_error(), "magic");
}

TEST_F(Damaged, WrongFormatVersion) {
  const std::uint32_t v = 2;
  patch(file_, 8, &v, 4);
  const auto e = load_error();
  expect_error(e, "format version: 2");
}

TEST_F(Damaged, WrongLayoutVersion) {
  const std::uint32_t v = 99;
  patch(file_, 12, &v, 4);
  expect_error(load_error(), "panel layout version: 99");
}

TEST_F(Damaged, DamagedHeader) {
  const std::uint64_t n = 12345;
  patch(file_, 72, &n, 8);  // the first matrix's n
  expect_error(load_error(), "header checksum");
}

TEST_F(Damaged, OtherDtype) {
  // A file for int8 given as the bf16 one.
  fs::copy_file(file_, model_ / "refusal-packed-bf16.bin");
  const auto e = load_error(DType::kBf16);
  EXPECT_NE(e.find("refusal-packed-bf16.bin"), std::string::npos) << e;
  EXPECT_NE(e.find("dtype: the file holds int8 weights, bf16 was asked for"), std::string::npos)
      << e;
}

TEST_F(Damaged, ExplicitFileMustExist) {
  const auto missing = dir_ / "missing.bin";
  const auto e = error_of([&] {
    Engine::load(model_.string(),
                 {.threads = 1, .dtype = DType::kInt8, .packed_weights_file = missing});
  });
  EXPECT_NE(e.find(missing.string()), std::string::npos) << e;
}

TEST_F(Damaged, OtherModel) {
  // The packed weights of tiny-bert-f32 next to tiny-roberta-f32: another model, refused.
  testing::TempDir other;
  testing::copy_folder(kModels / "tiny-bert-f32", other / "bert");
  Engine::load((other / "bert").string(), {.threads = 1, .dtype = DType::kInt8})
      .save_packed_weights(file_);
  expect_error(load_error(), "source fingerprint");
}

// `refusal pack`, then `refusal classify` with the stored file, through the real binary.
std::string binary() {
  const char* bin = std::getenv("REFUSAL_BINARY");
  return bin ? bin : "build/release/refusal";
}

struct CliRun {
  int exit_code = -1;
  std::string out;
};

CliRun run(const std::string& args, const std::string& err_file = "/dev/null") {
  const std::string cmd = binary() + " " + args + " 2>" + err_file;
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[1 << 16];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(PackCli, PackThenClassifyGivesTheSameScores) {
  testing::TempDir dir;
  const fs::path model = dir / "model";
  testing::copy_folder(kModels / "random-roberta-tok", model);
  const std::string m = " -m " + model.string();
  const std::string text = " --raw-scores \"I'm sorry, but I can't help with that.\"";
  const auto int8_before = run("classify" + m + " --dtype int8" + text);
  const auto bf16_before = run("classify" + m + " --dtype bf16" + text);
  ASSERT_EQ(int8_before.exit_code, 0);
  ASSERT_EQ(bf16_before.exit_code, 0);

  const auto packed = run("pack" + m + " --dtype int8 bf16");
  ASSERT_EQ(packed.exit_code, 0) << packed.out;
  EXPECT_NE(packed.out.find("refusal-packed-int8.bin"), std::string::npos) << packed.out;
  EXPECT_NE(packed.out.find("refusal-packed-bf16.bin"), std::string::npos) << packed.out;
  ASSERT_TRUE(fs::exists(model / "refusal-packed-int8.bin"));
  ASSERT_TRUE(fs::exists(model / "refusal-packed-bf16.bin"));
  EXPECT_FALSE(fs::exists(model / "refusal-packed-fp32.bin"));

  EXPECT_EQ(run("classify" + m + " --dtype int8" + text).out, int8_before.out);
  EXPECT_EQ(run("classify" + m + " --dtype bf16" + text).out, bf16_before.out);

  // --output elsewhere: the file is written there, not in the model folder.
  const auto elsewhere = dir / "elsewhere.bin";
  ASSERT_EQ(run("pack" + m + " --dtype fp32 --output " + elsewhere.string()).exit_code, 0);
  EXPECT_TRUE(fs::exists(elsewhere));
  EXPECT_FALSE(fs::exists(model / "refusal-packed-fp32.bin"));
  EXPECT_NE(run("pack" + m + " --dtype int8 bf16 --output " + elsewhere.string()).exit_code, 0);

  // A damaged file: classify fails (exit 1), naming the file and what is wrong.
  const auto file = model / "refusal-packed-int8.bin";
  const std::string whole = testing::read_text(file);
  testing::write_text(file, whole.substr(0, whole.size() / 2));
  const auto err = dir / "err.txt";
  EXPECT_EQ(run("classify" + m + " --dtype int8" + text, err.string()).exit_code, 1);
  const std::string message = testing::read_text(err);
  EXPECT_NE(message.find(file.string()), std::string::npos) << message;
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  // Packing again replaces it.
  ASSERT_EQ(run("pack" + m + " --dtype int8").exit_code, 0);
  EXPECT_EQ(run("classify" + m + " --dtype int8" + text).out, int8_before.out);
}

TEST(PackCli, Help) {
  const auto help = run("pack --help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* want : {"--dtype", "--output", "--model", "refusal-packed-DTYPE.bin"}) {
    EXPECT_NE(help.out.find(want), std::string::npos) << want << "\n" << help.out;
  }
  EXPECT_NE(run("--help").out.find("pack"), std::string::npos);
  EXPECT_EQ(run("pack --dtype int4").exit_code, 2);
}

}  // namespace
}  // namespace refusal
