// Finding models: plain folders, Hugging Face cache folders, hub ids in the local cache.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include "refusal/engine.h"
#include "refusal/error.h"
#include "test_support.h"

namespace refusal {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

const fs::path kModels = "tests/data/models";
const std::string kRevision = "0123456789abcdef0123456789abcdef01234567";

// Lays `folder` out as huggingface_hub does: blobs/ with the files, snapshots/REV/ with
// relative symlinks to them, refs/main naming REV.
fs::path make_cache_repo(const fs::path& cache, const std::string& repo_id,
                         const fs::path& folder) {
  std::string name = "models--" + repo_id;
  name.replace(name.find('/'), 1, "--");
  const fs::path repo = cache / name;
  fs::create_directories(repo / "blobs");
  fs::create_directories(repo / "refs");
  fs::create_directories(repo / "snapshots" / kRevision);
  testing::write_text(repo / "refs" / "main", kRevision);
  int blob = 0;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const std::string blob_name = "blob" + std::to_string(blob++);
    fs::copy_file(entry.path(), repo / "blobs" / blob_name);
    fs::create_symlink(fs::path("..") / ".." / "blobs" / blob_name,
                       repo / "snapshots" / kRevision / entry.path().filename());
  }
  return repo;
}

// Sets an environment variable for one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::vector<float> logits_of(const Engine& engine) {
  return engine.classify(std::vector<std::vector<std::int32_t>>{{0, 11, 222, 333, 2}})[0].logits;
}

class HubCache : public ::testing::TestWithParam<std::string> {};

TEST_P(HubCache, LoadsByHubIdCacheFolderAndSnapshot) {
  testing::TempDir cache;
  const auto repo = make_cache_repo(cache.path(), "ProtectAI/tiny-test", kModels / GetParam());
  const Engine direct = Engine::load((kModels / GetParam()).string(), {.threads = 1});
  const auto want = logits_of(direct);

  ScopedEnv hub_cache("HF_HUB_CACHE", cache.path().string());
  const Engine by_id = Engine::load("ProtectAI/tiny-test", {.threads = 1});
  EXPECT_EQ(by_id.files().resolved_as, "hub id (local cache)");
  EXPECT_EQ(by_id.files().folder, repo / "snapshots" / kRevision);
  EXPECT_EQ(logits_of(by_id), want);

  const Engine by_revision = Engine::load("ProtectAI/tiny-test@" + kRevision, {.threads = 1});
  EXPECT_EQ(logits_of(by_revision), want);

  const Engine by_repo_folder = Engine::load(repo.string(), {.threads = 1});
  EXPECT_EQ(by_repo_folder.files().resolved_as, "hf-cache folder");
  EXPECT_EQ(logits_of(by_repo_folder), want);

  const Engine by_snapshot =
      Engine::load((repo / "snapshots" / kRevision).string(), {.threads = 1});
  EXPECT_EQ(by_snapshot.files().resolved_as, "hf-cache folder");
  EXPECT_EQ(logits_of(by_snapshot), want);
}

INSTANTIATE_TEST_SUITE_P(Folders, HubCache,
                         ::testing::Values("tiny-roberta-f32", "tiny-roberta-f16",
                                           "tiny-roberta-sharded"));

TEST(ModelSource, CacheDirFollowsTheHubsEnvironment) {
  ScopedEnv home("HOME", "/home/someone");
  unsetenv("HF_HUB_CACHE");
  unsetenv("HUGGINGFACE_HUB_CACHE");
  unsetenv("HF_HOME");
  unsetenv("XDG_CACHE_HOME");
  EXPECT_EQ(hf_hub_cache_dir(), fs::path("/home/someone/.cache/huggingface/hub"));
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "/xdg");
    EXPECT_EQ(hf_hub_cache_dir(), fs::path("/xdg/huggingface/hub"));
    ScopedEnv hf_home("HF_HOME", "/hf");
    EXPECT_EQ(hf_hub_cache_dir(), fs::path("/hf/hub"));
    ScopedEnv hub("HF_HUB_CACHE", "/hub-cache");
    EXPECT_EQ(hf_hub_cache_dir(), fs::path("/hub-cache"));
  }
}

TEST(ModelSource, HfHomeFindsTheCache) {
  testing::TempDir home;
  make_cache_repo(home / "hub", "org/model", kModels / "tiny-roberta-f32");
  unsetenv("HF_HUB_CACHE");
  ScopedEnv hf_home("HF_HOME", home.path().string());
  EXPECT_EQ(resolve_model("org/model").folder,
            home / "hub" / "models--org--model" / "snapshots" / kRevision);
}

TEST(ModelSource, MissingHubIdSaysWhereItLookedAndHowToDownload) {
  testing::TempDir cache;
  ScopedEnv hub_cache("HF_HUB_CACHE", cache.path().string());
  try {
    resolve_model("ProtectAI/distilroberta-base-rejection-v1");
    FAIL() << "resolved";
  } catch (const Error& e) {
    EXPECT_THAT(std::string(e.what()),
                HasSubstr("not in the local Hugging Face cache (looked in " +
                          (cache / "models--ProtectAI--distilroberta-base-rejection-v1").string()));
    EXPECT_THAT(std::string(e.what()),
                HasSubstr("hf download ProtectAI/distilroberta-base-rejection-v1"));
  }
}

TEST(ModelSource, UnknownRevisionListsTheSnapshots) {
  testing::TempDir cache;
  make_cache_repo(cache.path(), "org/model", kModels / "tiny-roberta-f32");
  ScopedEnv hub_cache("HF_HUB_CACHE", cache.path().string());
  try {
    resolve_model("org/model@v2");
    FAIL() << "resolved";
  } catch (const Error& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("revision 'v2' not in the local cache"));
    EXPECT_THAT(std::string(e.what()), HasSubstr("snapshots present: " + kRevision));
  }
}

TEST(ModelSource, FindsTheTokenizerFilesBesideTheModel) {
  testing::TempDir dir;
  testing::copy_folder(kModels / "tiny-roberta-f32", dir.path());
  const fs::path tok = "tests/data/tokenizer/protectai-distilroberta-base-rejection-v1";
  for (const char* f : {"tokenizer.json", "vocab.json", "merges.txt"})
    fs::copy_file(tok / f, dir / f);
  const auto files = resolve_model(dir.path().string());
  EXPECT_EQ(files.tokenizer.tokenizer_json, dir / "tokenizer.json");
  EXPECT_EQ(files.tokenizer.vocab_json, dir / "vocab.json");
  EXPECT_EQ(files.tokenizer.merges_txt, dir / "merges.txt");
  EXPECT_FALSE(files.tokenizer.tokenizer_config.has_value());
}

// model.safetensors.index.json names its shards: a stranger's index must not make refusal read
// files outside the model folder, by an absolute path, by climbing out with '..', or through a
// symbolic link that points out. Links that stay inside (and a Hugging Face cache's links into
// its blobs/ folder: HubCache above) load.
class ShardNames : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directory(model_);
    testing::copy_folder(kModels / "tiny-roberta-sharded", model_);
    fs::copy_file(model_ / kShard, root_ / "outside.safetensors");
    index_ = testing::read_json(model_ / "model.safetensors.index.json");
  }

  // The index with every tensor of kShard moved to `shard`.
  void point_shard_to(const std::string& shard) {
    auto index = index_;
    for (auto& [tensor, file] : index["weight_map"].items()) {
      if (file == kShard) file = shard;
    }
    testing::write_text(model_ / "model.safetensors.index.json", index.dump());
  }

  std::string load_error(const std::string& shard) {
    point_shard_to(shard);
    try {
      Engine::load(model_.string(), {.threads = 1});
    } catch (const Error& e) {
      return e.what();
    }
    return "loaded";
  }

  static constexpr const char* kShard = "model-00001-of-00004.safetensors";
  testing::TempDir root_;
  fs::path model_ = root_ / "model";
  nlohmann::json index_;  // as the test data has it
};

TEST_F(ShardNames, AbsolutePathsAreRefused) {
  const std::string outside = fs::absolute(root_ / "outside.safetensors").string();
  EXPECT_THAT(load_error(outside),
              HasSubstr("model.safetensors.index.json: field 'weight_map': entry '"));
  EXPECT_THAT(load_error(outside), HasSubstr("shard '" + outside + "' is an absolute path"));
  EXPECT_THAT(load_error("/etc/hostname"), HasSubstr("is an absolute path"));
}

TEST_F(ShardNames, ClimbingOutIsRefused) {
  EXPECT_THAT(load_error("../outside.safetensors"),
              HasSubstr("shard '../outside.safetensors' climbs out of the model folder"));
  fs::create_directory(model_ / "sub");
  EXPECT_THAT(load_error("sub/../../outside.safetensors"), HasSubstr("climbs out"));
}

TEST_F(ShardNames, LinksOutOfTheFolderAreRefused) {
  fs::create_symlink("../outside.safetensors", model_ / "relative-link.safetensors");
  EXPECT_THAT(load_error("relative-link.safetensors"),
              HasSubstr("shard 'relative-link.safetensors' resolves to " +
                        fs::canonical(root_ / "outside.safetensors").string() +
                        ", outside the model folder"));
  fs::create_symlink(fs::absolute(root_ / "outside.safetensors"), model_ / "abs.safetensors");
  EXPECT_THAT(load_error("abs.safetensors"), HasSubstr("outside the model folder"));
  fs::create_symlink("..", model_ / "up");
  EXPECT_THAT(load_error("up/outside.safetensors"), HasSubstr("outside the model folder"));
}

TEST_F(ShardNames, OddNamesAreRefusedClearly) {
  EXPECT_THAT(load_error(""), HasSubstr("the shard's file name is empty"));
  EXPECT_THAT(load_error(std::string("a\0b", 3)), HasSubstr("the shard's name holds a NUL"));
  EXPECT_THAT(load_error("no-such.safetensors"), HasSubstr("shard no-such.safetensors is missing"));
}

TEST_F(ShardNames, PathsAndLinksInsideTheFolderLoad) {
  fs::create_directory(model_ / "sub");
  fs::rename(model_ / kShard, model_ / "sub" / kShard);
  EXPECT_EQ(load_error(std::string("sub/") + kShard), "loaded");
  fs::create_symlink(fs::path("sub") / kShard, model_ / "link.safetensors");
  EXPECT_EQ(load_error("link.safetensors"), "loaded");
  fs::create_symlink("..", model_ / "up");  // out, and back in again
  EXPECT_EQ(load_error(std::string("up/model/sub/") + kShard), "loaded");
}

}  // namespace
}  // namespace refusal
