// Bad model folders: each gives a clear error that names the file and the tensor or field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "model/safetensors.h"
#include "refusal/engine.h"
#include "refusal/error.h"
#include "test_support.h"

namespace refusal {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

const fs::path kTiny = "tests/data/models/tiny-roberta-f32";

class CorruptModel : public ::testing::Test {
 protected:
  void SetUp() override { testing::copy_folder(kTiny, dir_.path()); }

  fs::path weights() const { return dir_ / "model.safetensors"; }

  std::string load_error() const {
    try {
      Engine::load(dir_.path().string(), {.threads = 1});
    } catch (const Error& e) {
      return e.what();
    }
    return "loaded without error";
  }

  void edit_config(const std::function<void(nlohmann::json&)>& edit) {
    auto config = testing::read_json(dir_ / "config.json");
    edit(config);
    testing::write_text(dir_ / "config.json", config.dump(2));
  }

  // Rewrites model.safetensors after `edit` changes its tensor list.
  void edit_tensors(const std::function<void(std::vector<model::TensorData>&)>& edit) {
    std::vector<model::TensorData> tensors;
    std::vector<std::vector<std::byte>> copies;
    {
      model::SafetensorsFile file(weights());
      for (const auto& [name, t] : file.tensors()) {
        copies.emplace_back(t.data.begin(), t.data.end());
        tensors.push_back({name, t.dtype, t.shape, copies.back()});
      }
      edit(tensors);
      model::write_safetensors(dir_ / "rewritten.safetensors", tensors);
    }
    fs::rename(dir_ / "rewritten.safetensors", weights());
  }

  // The raw file: 8-byte length, header text, data.
  std::string raw() const { return testing::read_text(weights()); }
  void write_raw(const std::string& bytes) { testing::write_text(weights(), bytes); }
  static std::string length_prefix(std::uint64_t n) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i)
      s[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
    return s;
  }
  std::string header() const {
    const std::string bytes = raw();
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
      n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
    return bytes.substr(8, n);
  }
  std::string data() const { return raw().substr(8 + header().size()); }

  testing::TempDir dir_;
};

TEST_F(CorruptModel, IntactCopyLoads) { EXPECT_EQ(load_error(), "loaded without error"); }

TEST_F(CorruptModel, MissingFolder) {
  EXPECT_THROW(
      {
        try {
          Engine::load("no/such/folder/here");
        } catch (const Error& e) {
          EXPECT_THAT(std::string(e.what()), HasSubstr("no/such/folder/here: no such folder"));
          throw;
        }
      },
      Error);
}

TEST_F(CorruptModel, MissingConfig) {
  fs::remove(dir_ / "config.json");
  EXPECT_THAT(load_error(), AllOf(HasSubstr(dir_.path().string()), HasSubstr("no config.json")));
}

TEST_F(CorruptModel, MissingWeights) {
  fs::remove(weights());
  EXPECT_THAT(load_error(), HasSubstr("no model.safetensors or model.safetensors.index.json"));
}

TEST_F(CorruptModel, OnlyPytorchBin) {
  fs::rename(weights(), dir_ / "pytorch_model.bin");
  EXPECT_THAT(load_error(),
              AllOf(HasSubstr("only pytorch_model.bin found"), HasSubstr("save_pretrained")));
}

TEST_F(CorruptModel, ConfigIsNotJson) {
  testing::write_text(dir_ / "config.json", "{\"model_type\": \"roberta\",, }");
  EXPECT_THAT(load_error(), AllOf(HasSubstr("config.json: invalid JSON at byte 26")));
}

TEST_F(CorruptModel, UnsupportedModelType) {
  edit_config([](auto& c) { c["model_type"] = "gpt2"; });
  EXPECT_THAT(load_error(), AllOf(HasSubstr("config.json: field 'model_type'"),
                                  HasSubstr("unsupported model type 'gpt2'")));
}

TEST_F(CorruptModel, UnsupportedArchitecture) {
  edit_config([](auto& c) { c["architectures"] = {"RobertaForMaskedLM"}; });
  EXPECT_THAT(load_error(), AllOf(HasSubstr("field 'architectures'"),
                                  HasSubstr("unsupported architecture [\"RobertaForMaskedLM\"]")));
}

TEST_F(CorruptModel, FieldOfTheWrongType) {
  edit_config([](auto& c) { c["hidden_size"] = "32"; });
  EXPECT_THAT(load_error(), HasSubstr("field 'hidden_size': expected an integer, got \"32\""));
}

TEST_F(CorruptModel, HeadsDoNotDivideHidden) {
  edit_config([](auto& c) { c["num_attention_heads"] = 5; });
  EXPECT_THAT(load_error(), HasSubstr("hidden_size 32 is not a multiple of num_attention_heads 5"));
}

TEST_F(CorruptModel, UnsupportedActivation) {
  edit_config([](auto& c) { c["hidden_act"] = "mish"; });
  EXPECT_THAT(load_error(), HasSubstr("field 'hidden_act': unsupported activation 'mish'"));
}

TEST_F(CorruptModel, LabelMapsDisagree) {
  edit_config([](auto& c) { c["label2id"] = {{"NORMAL", 1}, {"REJECTION", 0}}; });
  EXPECT_THAT(load_error(), HasSubstr("field 'label2id': entry 'NORMAL': 1 contradicts id2label"));
}

TEST_F(CorruptModel, NumLabelsIsCapped) {
  // Without id2label the names LABEL_0.. are made from num_labels: a billion of them is refused
  // before any is made.
  edit_config([](auto& c) {
    c.erase("id2label");
    c.erase("label2id");
    c["num_labels"] = 1000000000;
  });
  EXPECT_THAT(load_error(), HasSubstr("config.json: field 'num_labels': value 1000000000 out of "
                                      "range (min 1, max 100000)"));
}

TEST_F(CorruptModel, ConfigContradictsWeightShapes) {
  edit_config([](auto& c) { c["vocab_size"] = 999; });
  EXPECT_THAT(
      load_error(),
      AllOf(HasSubstr("model.safetensors: tensor 'roberta.embeddings.word_embeddings.weight'"
                      " has shape [1000, 32], but config.json implies [999, 32]")));
}

TEST_F(CorruptModel, MoreLabelsThanTheHeadHas) {
  edit_config([](auto& c) {
    c["id2label"] = {{"0", "A"}, {"1", "B"}, {"2", "C"}};
    c.erase("label2id");
  });
  EXPECT_THAT(load_error(), HasSubstr("tensor 'classifier.out_proj.weight' has shape [2, 32], but "
                                      "config.json implies [3, 32]"));
}

TEST_F(CorruptModel, MoreLayersThanTheWeights) {
  edit_config([](auto& c) { c["num_hidden_layers"] = 3; });
  EXPECT_THAT(load_error(),
              HasSubstr("missing tensor 'roberta.encoder.layer.2.attention.self.query.weight'"));
}

TEST_F(CorruptModel, FewerLayersThanTheWeights) {
  edit_config([](auto& c) { c["num_hidden_layers"] = 1; });
  EXPECT_THAT(load_error(), AllOf(HasSubstr("unexpected tensor 'roberta.encoder.layer.1."),
                                  HasSubstr("config.json says num_hidden_layers 1")));
}

TEST_F(CorruptModel, MissingTensor) {
  edit_tensors([](auto& tensors) {
    std::erase_if(tensors, [](const auto& t) { return t.name == "classifier.out_proj.bias"; });
  });
  EXPECT_THAT(load_error(), AllOf(HasSubstr("missing tensor 'classifier.out_proj.bias'"),
                                  HasSubstr("model.safetensors")));
}

TEST_F(CorruptModel, UnexpectedTensor) {
  static const std::vector<float> extra(4, 0.0f);
  edit_tensors([](auto& tensors) {
    tensors.push_back(
        {"lm_head.dense.weight", model::DType::F32, {2, 2}, std::as_bytes(std::span(extra))});
  });
  EXPECT_THAT(load_error(), AllOf(HasSubstr("unexpected tensor 'lm_head.dense.weight'"),
                                  HasSubstr("not part of RobertaForSequenceClassification")));
}

TEST_F(CorruptModel, WrongDtype) {
  edit_tensors([](auto& tensors) {
    for (auto& t : tensors) {
      if (t.name == "classifier.dense.bias") t.dtype = model::DType::I32;
    }
  });
  EXPECT_THAT(load_error(), HasSubstr("tensor 'classifier.dense.bias': dtype I32 is not a weight "
                                      "dtype (F32, F16 or BF16 expected)"));
}

TEST_F(CorruptModel, TruncatedFile) {
  const std::string bytes = raw();
  write_raw(bytes.substr(0, bytes.size() - 100));
  EXPECT_THAT(load_error(), AllOf(HasSubstr("run past the end of the data"),
                                  HasSubstr("is the file truncated?")));
}

TEST_F(CorruptModel, FileShorterThanItsHeaderLength) {
  write_raw(std::string("\x10\x00\x00", 3));
  EXPECT_THAT(load_error(), HasSubstr("truncated safetensors file (3 bytes"));
}

TEST_F(CorruptModel, HeaderLengthPastTheEnd) {
  write_raw(length_prefix(1ull << 40) + header() + data());
  EXPECT_THAT(load_error(), HasSubstr("corrupt safetensors header: header length 1099511627776 "
                                      "exceeds the file's"));
}

TEST_F(CorruptModel, HeaderIsNotJson) {
  std::string h = header();
  h[0] = 'x';  // the header's opening brace
  write_raw(length_prefix(h.size()) + h + data());
  EXPECT_THAT(load_error(), AllOf(HasSubstr("model.safetensors: corrupt safetensors header: "
                                            "invalid JSON at byte")));
}

TEST_F(CorruptModel, OverlappingTensors) {
  auto h = nlohmann::json::parse(header());
  h["classifier.dense.bias"]["data_offsets"] = h["classifier.dense.weight"]["data_offsets"];
  h["classifier.dense.bias"]["shape"] = h["classifier.dense.weight"]["shape"];
  std::string text = h.dump();
  write_raw(length_prefix(text.size()) + text + data());
  EXPECT_THAT(load_error(),
              AllOf(HasSubstr("corrupt safetensors header: tensors"), HasSubstr("overlap")));
}

TEST_F(CorruptModel, OverlapBehindAnEmptyTensor) {
  // Offsets sorted: [0,4) a, [2,2) an empty tensor, [1,5) c. c overlaps a, though not the empty
  // tensor just before it.
  const std::string text = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                           R"("b":{"dtype":"F32","shape":[0],"data_offsets":[2,2]},)"
                           R"("c":{"dtype":"U8","shape":[4],"data_offsets":[1,5]}})";
  write_raw(length_prefix(text.size()) + text + std::string(8, '\0'));
  EXPECT_THAT(load_error(), HasSubstr("corrupt safetensors header: tensors 'a' and 'c' overlap"));
}

TEST_F(CorruptModel, TensorsAtUnalignedOffsetsReadAsTheirValues) {
  // Found by fuzz_safetensors: an empty F32 tensor at an offset that is not a multiple of 4.
  // The header is padded so that the data starts 4-byte aligned and offset 2 is not.
  std::string text = R"({"b":{"dtype":"F32","shape":[0],"data_offsets":[2,2]},)"
                     R"("c":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})";
  while ((8 + text.size()) % 4 != 0) text += ' ';
  const float value = 1.5f;
  std::string bytes(8, '\0');
  std::memcpy(bytes.data() + 2, &value, sizeof value);
  write_raw(length_prefix(text.size()) + text + bytes);
  model::SafetensorsFile file(weights());
  std::vector<float> owned;
  EXPECT_TRUE(model::as_float(file.tensors().at("b"), owned).empty());
  const auto c = model::as_float(file.tensors().at("c"), owned);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0], value);
}

TEST_F(CorruptModel, ShapeTooLargeEvenWhenItsProductWrapsAround) {
  // 2^40 * 2^40 * 2^24 is 0 modulo 2^64: without checking before multiplying, the tensor would
  // pass as empty and its numel() overflow.
  auto h = nlohmann::json::parse(header());
  h["classifier.dense.bias"]["shape"] = {1ull << 40, 1ull << 40, 1ull << 24};
  h["classifier.dense.bias"]["data_offsets"] = {0, 0};
  std::string text = h.dump();
  write_raw(length_prefix(text.size()) + text + data());
  EXPECT_THAT(load_error(), HasSubstr("tensor 'classifier.dense.bias': shape [1099511627776,"
                                      "1099511627776,16777216] is too large"));
}

TEST_F(CorruptModel, OffsetsDisagreeWithShape) {
  auto h = nlohmann::json::parse(header());
  h["classifier.dense.bias"]["shape"] = {31};
  std::string text = h.dump();
  write_raw(length_prefix(text.size()) + text + data());
  EXPECT_THAT(load_error(), HasSubstr("tensor 'classifier.dense.bias': data_offsets [0,128] hold "
                                      "128 bytes, but shape [31] of F32 needs 124"));
}

TEST_F(CorruptModel, MissingShard) {
  testing::TempDir sharded;
  testing::copy_folder("tests/data/models/tiny-roberta-sharded", sharded.path());
  fs::remove(sharded / "model-00002-of-00004.safetensors");
  try {
    Engine::load(sharded.path().string());
    FAIL() << "loaded";
  } catch (const Error& e) {
    EXPECT_THAT(std::string(e.what()),
                AllOf(HasSubstr("model.safetensors.index.json: shard "
                                "model-00002-of-00004.safetensors is missing")));
  }
}

}  // namespace
}  // namespace refusal
