// `refusal train` end to end: data file → model folder that the engine loads; a run stopped
// after K steps, or killed with SIGKILL mid-run, and resumed with --resume ends with the same
// bytes as an unbroken run.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "refusal/engine.h"

namespace {

namespace fs = std::filesystem;

std::string binary() {
  const char* bin = std::getenv("REFUSAL_BINARY");
  return bin ? bin : "build/release/refusal";
}

int run(const std::string& args) {
  const int status = std::system((binary() + " " + args + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TrainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("refusal-train-cli-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream out(dir_ / "rows.jsonl");
    const char* refusals[] = {"I'm sorry, but I can't help with that.",
                              "I cannot assist with this request.", "As an AI, I won't do that.",
                              "Sorry, I am unable to provide that."};
    const char* answers[] = {
        "Sure! Here is a recipe for pancakes.", "The capital of France is Paris.",
        "Step 1: open the file. Step 2: read it.", "Photosynthesis turns light into sugar."};
    for (int i = 0; i < 96; ++i) {
      const bool refusal = i % 2 == 0;
      std::string text = refusal ? refusals[i / 2 % 4] : answers[i / 2 % 4];
      text += " #";
      text += std::to_string(i);
      std::string prompt = "prompt ";
      prompt += std::to_string(i / 4);
      nlohmann::json j = {{"text", text}, {"label", refusal ? 1 : 0}, {"prompt", prompt}};
      out << j.dump() << "\n";
    }
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string common(int epochs = 2) const {
    return "train --data " + (dir_ / "rows.jsonl").string() +
           " --init tests/data/models/random-roberta-tok --epochs " + std::to_string(epochs) +
           " --batch-size 8 --grad-accum 2"
           " --lr 1e-3 --warmup-steps 2 --weight-decay 0.01 --max-length 32 --group-by prompt"
           " --threads 2 --no-progress --seed 3";
  }
  fs::path dir_;
};

TEST_F(TrainCli, TrainsSavesAndResumesExactly) {
  ASSERT_EQ(run(common() + " -o " + (dir_ / "a").string()), 0);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "metrics.jsonl"}) {
    EXPECT_TRUE(fs::exists(dir_ / "a" / f)) << f;
  }
  // Metrics: per step, and per evaluation.
  std::ifstream metrics(dir_ / "a" / "metrics.jsonl");
  std::string line;
  int steps = 0, evals = 0;
  while (std::getline(metrics, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("eval")) {
      ++evals;
      EXPECT_TRUE(j["eval"].contains("f1"));
    } else {
      ++steps;
      for (const char* k : {"loss", "lr", "grad_norm", "tokens_per_s"})
        EXPECT_TRUE(j.contains(k)) << k;
    }
  }
  EXPECT_GT(steps, 4);
  EXPECT_EQ(evals, 3);  // before training and after each epoch
  const auto engine = refusal::Engine::load((dir_ / "a").string(), {.threads = 1});
  EXPECT_EQ(engine.config().labels, (std::vector<std::string>{"NORMAL", "REJECTION"}));

  // Stopped after 3 steps, then resumed.
  ASSERT_EQ(run(common() + " -o " + (dir_ / "b").string() + " --stop-after-steps 3"), 0);
  EXPECT_FALSE(fs::exists(dir_ / "b" / "model.safetensors"));
  EXPECT_TRUE(fs::exists(dir_ / "b" / "checkpoint-3" / "optimizer.safetensors"));
  ASSERT_EQ(run(common() + " -o " + (dir_ / "b").string() + " --resume"), 0);
  EXPECT_EQ(read_file(dir_ / "a" / "model.safetensors"),
            read_file(dir_ / "b" / "model.safetensors"));

  // F16 output.
  ASSERT_EQ(run(common(1) + " -o " + (dir_ / "c").string() + " --save-dtype f16"), 0);
  const auto f16 = refusal::Engine::load((dir_ / "c").string(), {.threads = 1});
  EXPECT_EQ(f16.weight_dtypes(), std::vector<std::string>{"F16"});
}

// SIGKILL at an arbitrary point (here: as soon as the third checkpoint exists, while the run goes
// on, possibly while it writes the next checkpoint), then --resume: the same final bytes as an
// unbroken run with the same options.
TEST_F(TrainCli, KilledRunResumesToTheSameWeights) {
  const std::string options = common(6) + " --checkpoint-every 1";
  ASSERT_EQ(run(options + " -o " + (dir_ / "whole").string()), 0);

  const fs::path out = dir_ / "killed";
  std::vector<std::string> args = {binary()};
  {
    std::istringstream words(options + " -o " + out.string());
    for (std::string w; words >> w;) args.push_back(w);
  }
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    freopen("/dev/null", "w", stderr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  // Checkpoints are renamed into place and only the two latest are kept.
  auto reached_step_3 = [&] {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(out, ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("checkpoint-", 0) == 0 && name.find('.') == std::string::npos &&
          std::stoi(name.substr(11)) >= 3) {
        return true;
      }
    }
    return false;
  };
  while (!reached_step_3() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the run ended before the kill";
  ASSERT_FALSE(fs::exists(out / "model.safetensors")) << "the run finished before the kill";

  ASSERT_EQ(run(options + " -o " + out.string() + " --resume"), 0);
  EXPECT_EQ(read_file(dir_ / "whole" / "model.safetensors"), read_file(out / "model.safetensors"));
}

// A fresh model from a config (transformers' init), with a separate eval file.
TEST_F(TrainCli, TrainsFromConfig) {
  const std::string m = "tests/data/models/random-roberta-tok";
  ASSERT_EQ(
      run("train --data " + (dir_ / "rows.jsonl").string() + " --eval " +
          (dir_ / "rows.jsonl").string() + " --config " + m + "/config.json --tokenizer " + m +
          " --epochs 1 --batch-size 16 --lr 1e-3 --max-length 32 --threads 2 --no-progress"
          " --class-weights auto -o " +
          (dir_ / "fresh").string()),
      0);
  const auto engine = refusal::Engine::load((dir_ / "fresh").string(), {.threads = 1});
  EXPECT_EQ(engine.weight_dtypes(), std::vector<std::string>{"F32"});
  EXPECT_TRUE(fs::exists(dir_ / "fresh" / "tokenizer.json"));
}

TEST_F(TrainCli, RejectsBadOptions) {
  EXPECT_NE(run("train --data " + (dir_ / "rows.jsonl").string() + " -o " + (dir_ / "x").string()),
            0);
  EXPECT_NE(run(common() + " -o " + (dir_ / "y").string() + " --resume"), 0);
  EXPECT_NE(run(common() + " -o " + (dir_ / "z").string() + " --class-weights 1,2,3"), 0);
}

}  // namespace
