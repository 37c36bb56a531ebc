// load_punkt_parameters: the shipped English data and the errors for damaged files.
#include <gtest/gtest.h>

#include "refusal/error.h"
#include "refusal/scanner_rules.h"
#include "scan/vectors.h"
#include "test_support.h"

namespace refusal {
namespace {

using testing::TempDir;
using testing::write_text;

TEST(ScanPunktParams, LoadsEnglish) {
  const PunktParameters p = load_punkt_parameters(testing::punkt_dir());
  // Entry counts from data/punkt_tab/README.md.
  EXPECT_EQ(p.abbrev_types.size(), 156u);
  EXPECT_EQ(p.collocations.size(), 37u);
  EXPECT_EQ(p.ortho_context.size(), 20366u);
  EXPECT_EQ(p.sent_starters.size(), 39u);
  EXPECT_TRUE(p.abbrev_types.count("dr"));
  EXPECT_TRUE(p.abbrev_types.count("u.s"));
  EXPECT_TRUE(p.collocations.count("##number##\tinternational"));
  EXPECT_TRUE(p.abbrev_types.count(". . "));  // trailing space kept
}

void write_params(const TempDir& dir, const std::string& colloc, const std::string& ortho) {
  write_text(dir / "abbrev_types.txt", "dr\r\nmr");
  write_text(dir / "sent_starters.txt", "the\n");
  write_text(dir / "collocations.tab", colloc);
  write_text(dir / "ortho_context.tab", ortho);
}

TEST(ScanPunktParams, ReadsLinesLikePython) {
  TempDir dir;
  write_params(dir, "s.\tbach", "the\t18\nbach\t2\n");
  const auto p = load_punkt_parameters(dir.path());
  EXPECT_EQ(p.abbrev_types.size(), 2u);  // "\r\n" is a newline in text mode
  EXPECT_TRUE(p.abbrev_types.count("mr"));
  EXPECT_EQ(p.sent_starters.size(), 1u);  // the final newline does not add an entry
  EXPECT_TRUE(p.collocations.count("s.\tbach"));
  EXPECT_EQ(p.ortho_context.at("the"), 18);
}

std::string error_of(const std::filesystem::path& dir) {
  try {
    load_punkt_parameters(dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ScanPunktParams, ErrorsNameFileAndLine) {
  TempDir dir;
  write_params(dir, "a\tb\nno-tab-here\n", "x\t1\n");
  EXPECT_NE(error_of(dir.path()).find("collocations.tab:2"), std::string::npos);

  write_params(dir, "a\tb", "x\t1\ny\tmany\n");
  EXPECT_NE(error_of(dir.path()).find("ortho_context.tab:2"), std::string::npos);

  write_params(dir, "a\tb", "x\t1\t2");
  EXPECT_NE(error_of(dir.path()).find("ortho_context.tab:1"), std::string::npos);

  write_text(dir / "sent_starters.txt", "ok\nbad\xff\n");
  EXPECT_NE(error_of(dir.path()).find("sent_starters.txt:2"), std::string::npos);

  std::filesystem::remove(dir / "sent_starters.txt");
  EXPECT_NE(error_of(dir.path()).find("sent_starters.txt"), std::string::npos);
  EXPECT_NE(error_of(dir / "missing").find("does not exist"), std::string::npos);
}

}  // namespace
}  // namespace refusal
