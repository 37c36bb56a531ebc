// The web page at / in a real headless browser (Debian's chromium): an answer goes in, the
// verdict comes out with the refusal sentence highlighted. Skipped where no chromium is found.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>

#include "refusal/engine.h"
#include "refusal/model.h"
#include "refusal/tokenizer.h"
#include "server/server.h"
#include "test_support.h"

namespace refusal::server {
namespace {

std::string find_browser() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    const std::string cmd = std::string("command -v ") + name + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return name;
  }
  return "";
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p) != nullptr) out += buf.data();
  ::pclose(p);
  return out;
}

TEST(WebPage, FlagsTheRefusalSentenceInAHeadlessBrowser) {
  const std::string browser = find_browser();
  if (browser.empty()) GTEST_SKIP() << "no chromium on PATH";
  const ModelFiles files = resolve_model("tests/data/models/random-roberta-tok");
  auto engine = std::make_shared<const Engine>(Engine::load(files, {.threads = 1}));
  ServerConfig c;
  c.host = "127.0.0.1";
  c.port = 0;
  c.model = "tests/data/models/random-roberta-tok";
  c.access_log = false;
  c.http_threads = 4;
  Server server(c, engine, Tokenizer::from_model_folder(files.folder));
  const int port = server.bind();
  std::thread t([&] { server.serve(); });
  testing::TempDir profile;
  // The page reads ?text= into the text box and runs the same check as its button. With the
  // random test model, "I cannot help with that request." is this text's highest-scoring
  // sentence (0.43); threshold 0.4 flags it alone.
  const std::string url = "http://127.0.0.1:" + std::to_string(port) +
                          "/ui?threshold=0.4&text=Great%20question!%20I%20cannot%20help%20with%20"
                          "that%20request.%20Here%20are%20some%20safer%20alternatives%20you%20"
                          "could%20try.";
  const std::string dom = run(browser + " --headless --no-sandbox --disable-gpu --user-data-dir=" +
                              profile.path().string() +
                              " --virtual-time-budget=10000 --dump-dom '" + url + "' 2>/dev/null");
  server.stop();
  t.join();
  ASSERT_NE(dom.find("<textarea"), std::string::npos) << dom;
  EXPECT_NE(dom.find("<div id=\"verdict\" class=\"refusal\">Refusal (score 0.4"), std::string::npos)
      << dom;
  EXPECT_NE(dom.find("<span class=\"s flag\" title=\"score 0.432\">I cannot help with that "
                     "request.</span>"),
            std::string::npos)
      << dom;
  EXPECT_NE(dom.find("<span class=\"s\" title=\"score 0.377\">Great question!</span>"),
            std::string::npos)
      << dom;
}

}  // namespace
}  // namespace refusal::server
