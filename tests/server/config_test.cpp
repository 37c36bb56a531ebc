// Settings: the file, the environment and flags, and LLM Guard's own scanners.yml.
#include "server/config.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "refusal/error.h"
#include "test_support.h"

namespace refusal::server {
namespace {

TEST(ServerConfig, FileThenEnvironmentThenFlags) {
  testing::TempDir dir;
  testing::write_text(dir / "serve.conf",
                      "# comment\nport = 9001\nthreshold: 0.6\nmatch-type = \"sentence\"\n"
                      "cache_size = 5\n");
  ::setenv("REFUSAL_SERVE_CACHE_SIZE", "7", 1);
  const ServerConfig c = load_config((dir / "serve.conf").string(), {{"port", "9002"}});
  ::unsetenv("REFUSAL_SERVE_CACHE_SIZE");
  EXPECT_EQ(c.port, 9002);
  EXPECT_EQ(c.threshold, 0.6);
  EXPECT_EQ(c.match_type, "sentence");
  EXPECT_EQ(c.cache_size, 7u);
  EXPECT_EQ(c.host, "127.0.0.1");
}

TEST(ServerConfig, BadValuesAndUnknownKeysAreErrors) {
  testing::TempDir dir;
  testing::write_text(dir / "a.conf", "prot = 1\n");
  EXPECT_THROW(load_config((dir / "a.conf").string(), {}), Error);
  EXPECT_THROW(load_config("", {{"threshold", "1.5"}}), Error);
  EXPECT_THROW(load_config("", {{"match_type", "words"}}), Error);
  EXPECT_THROW(load_config("", {{"port", "-1"}}), Error);
  EXPECT_THROW(load_config("", {{"scanners", "NoRefusal,Toxicity"}}), Error);
  EXPECT_THROW(load_config("", {{"scanners", "NoRefusal,NoRefusal"}}), Error);
  const ServerConfig c = load_config("", {{"api_keys", " k1, k2 ,"}});
  EXPECT_EQ(c.api_keys, (std::vector<std::string>{"k1", "k2"}));
}

TEST(ServerConfig, ShutdownDelayAndDrainTimeoutFromEverySource) {
  testing::TempDir dir;
  testing::write_text(dir / "serve.conf", "shutdown-delay = 10\ndrain_timeout: 20\n");
  EXPECT_EQ(load_config((dir / "serve.conf").string(), {}).shutdown_delay, 10.0);
  EXPECT_EQ(load_config((dir / "serve.conf").string(), {}).drain_timeout, 20.0);
  ::setenv("REFUSAL_SERVE_SHUTDOWN_DELAY", "2.5", 1);
  const ServerConfig c = load_config((dir / "serve.conf").string(), {{"drain_timeout", "0"}});
  ::unsetenv("REFUSAL_SERVE_SHUTDOWN_DELAY");
  EXPECT_EQ(c.shutdown_delay, 2.5);
  EXPECT_EQ(c.drain_timeout, 0.0);
  // Defaults: stop at once, drain without a limit (as before these settings existed).
  EXPECT_EQ(load_config("", {}).shutdown_delay, 0.0);
  EXPECT_EQ(load_config("", {}).drain_timeout, 0.0);
  EXPECT_THROW(load_config("", {{"shutdown_delay", "-1"}}), Error);
  EXPECT_THROW(load_config("", {{"drain_timeout", "nan"}}), Error);
  EXPECT_THROW(load_config("", {{"drain_timeout", "5s"}}), Error);
}

TEST(ServerConfig, NoRefusalDefaultsComeFromTheLlmGuardPreset) {
  const ServerConfig c = load_config("", {});
  // Unset: the library's llm-guard preset decides; --help shows what it decides.
  EXPECT_FALSE(c.threshold.has_value());
  EXPECT_FALSE(c.max_length.has_value());
  EXPECT_EQ(setting_value(c, "threshold"), "0.75");
  EXPECT_EQ(setting_value(c, "max_length"), "128");
  const ServerConfig set = load_config("", {{"threshold", "0.9"}, {"max_length", "64"}});
  EXPECT_EQ(setting_value(set, "threshold"), "0.9");
  EXPECT_EQ(setting_value(set, "max_length"), "64");
}

TEST(ServerConfig, ReadsLlmGuardScannersYml) {
  testing::TempDir dir;
  testing::write_text(dir / "scanners.yml", R"(app:
  name: ${APP_NAME:LLM Guard API}
  scan_fail_fast: ${SCAN_FAIL_FAST:false}
  scan_output_timeout: ${SCAN_OUTPUT_TIMEOUT:12}

auth:
  type: http_bearer
  token: ${AUTH_TOKEN_FOR_TEST:}

output_scanners:
  - type: BanCompetitors
    params:
      competitors: ["Azure", "AWS"]
      threshold: 0.5
  - type: NoRefusal
    params:
      threshold: 0.9   # the API's default
      match_type: sentence
      model_max_length: 256
  - type: NoRefusalLight
)");
  ::setenv("AUTH_TOKEN_FOR_TEST", "secret", 1);
  const ServerConfig c = load_config("", {{"llm_guard_config", (dir / "scanners.yml").string()}});
  EXPECT_EQ(c.threshold, 0.9);
  EXPECT_EQ(c.match_type, "sentence");
  EXPECT_EQ(c.max_length, 256u);
  EXPECT_EQ(c.request_timeout, 12.0);
  EXPECT_EQ(c.api_keys, (std::vector<std::string>{"secret"}));
  EXPECT_EQ(c.scanners, (std::vector<std::string>{"NoRefusal", "NoRefusalLight"}));
  ::unsetenv("AUTH_TOKEN_FOR_TEST");
  // An empty token refuses everything in LLM Guard (its issue #95): an error here.
  EXPECT_THROW(load_config("", {{"llm_guard_config", (dir / "scanners.yml").string()}}), Error);
  // Inline params.
  testing::write_text(dir / "inline.yml",
                      "output_scanners:\n  - type: NoRefusal\n    params: {threshold: 0.8, "
                      "match_type: full}\n");
  const ServerConfig d = load_config("", {{"llm_guard_config", (dir / "inline.yml").string()}});
  EXPECT_EQ(d.threshold, 0.8);
  EXPECT_EQ(d.match_type, "full");
}

}  // namespace
}  // namespace refusal::server
