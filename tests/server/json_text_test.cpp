// The JSON forms the reference servers use: Python's json.dumps / json.loads errors, serde's f32.
#include "server/json_text.h"

#include <gtest/gtest.h>

namespace refusal::server {
namespace {

using nlohmann::ordered_json;

TEST(FormatF32, MatchesSerdeJsonRyu) {
  EXPECT_EQ(format_f32(1.0f), "1.0");
  EXPECT_EQ(format_f32(0.0f), "0.0");
  EXPECT_EQ(format_f32(-0.0f), "-0.0");
  EXPECT_EQ(format_f32(0.99f), "0.99");
  EXPECT_EQ(format_f32(0.5f), "0.5");
  EXPECT_EQ(format_f32(1e-5f), "0.00001");
  EXPECT_EQ(format_f32(1e-7f), "1e-7");
  EXPECT_EQ(format_f32(1.5e-7f), "1.5e-7");
  EXPECT_EQ(format_f32(-2.25f), "-2.25");
  EXPECT_EQ(format_f32(123456789.0f), "123456790.0");
  EXPECT_EQ(format_f32(1e16f), "1e16");
  EXPECT_EQ(format_f32(0.62058043f), "0.62058043");
}

TEST(PythonJsonDumps, CompactReprFloatsRawUtf8) {
  ordered_json j;
  j["is_valid"] = true;
  j["scanners"] = {{"NoRefusal", -0.0}};
  j["a"] = ordered_json::array({-1.0, 1e-05, 0.1, 1e16, 3, nullptr});
  j["s"] = "é\n\t\"\\\x01\x7f</";
  EXPECT_EQ(python_json_dumps(j),
            "{\"is_valid\":true,\"scanners\":{\"NoRefusal\":-0.0},"
            "\"a\":[-1.0,1e-05,0.1,1e+16,3,null],\"s\":\"é\\n\\t\\\"\\\\\\u0001\x7f</\"}");
}

TEST(PythonJsonCheck, MessagesAndPositionsOfCPythonsScanner) {
  auto err = [](std::string_view s) {
    auto c = python_json_check(s);
    return c.error ? c.error->message + "@" + std::to_string(c.error->pos) : std::string("ok");
  };
  EXPECT_EQ(err(R"({"a": 1})"), "ok");
  EXPECT_EQ(err(R"({"prompt": "p", "output": )"), "Expecting value@26");
  EXPECT_EQ(err(R"({"prompt": "p", "output": "x")"), "Expecting ',' delimiter@29");
  EXPECT_EQ(err(R"({"prompt" "p"})"), "Expecting ':' delimiter@10");
  EXPECT_EQ(err(R"({prompt: "p"})"), "Expecting property name enclosed in double quotes@1");
  EXPECT_EQ(err(R"({"prompt": "p", "output": "x",})"),
            "Expecting property name enclosed in double quotes@30");
  EXPECT_EQ(err(R"({"prompt": "p", "output": "x"} x)"), "Extra data@31");
  EXPECT_EQ(err(R"({"prompt": "p", "output": "abc)"), "Unterminated string starting at@26");
  EXPECT_EQ(err("{\"prompt\": \"p\", \"output\": \"a\x01b\"}"), "Invalid control character at@28");
  EXPECT_EQ(err(R"({"prompt": "p", "output": "a\xb"})"), "Invalid \\escape@28");
  EXPECT_EQ(err(R"({"prompt": "p", "output": "a\u12"})"), "Invalid \\uXXXX escape@29");
  EXPECT_EQ(err("{\"prompt\": \"é€😀\", \"output\": }"), "Expecting value@28");
  EXPECT_EQ(err("   "), "Expecting value@3");
  EXPECT_EQ(err("[1,]"), "Expecting value@3");
  EXPECT_EQ(err("1.5e"), "Extra data@3");
  EXPECT_TRUE(python_json_check("[NaN, -Infinity]").non_finite);
  EXPECT_TRUE(python_json_check(R"(["\ud800"])").lone_surrogate);
  EXPECT_FALSE(python_json_check(R"(["\ud83d\ude00"])").lone_surrogate);
  EXPECT_TRUE(python_json_check(std::string(600, '[')).too_deep);
}

}  // namespace
}  // namespace refusal::server
