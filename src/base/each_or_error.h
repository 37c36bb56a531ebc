// One bad item must not cost the others their results: run a whole batch at once and, only if
// that throws, run each item alone to find the one(s) that failed. Used wherever a batch of
// independent items meets code that may reject one of them (texts, token ids).
#pragma once

#include <cstddef>
#include <exception>
#include <span>
#include <string>
#include <vector>

namespace refusal::base {

template <class Result>
struct ItemOutcome {
  Result value{};
  std::string error;  // empty: `value` holds the item's result
};

// run(items) returns one Result per item, in order. The batch is run once; when it throws,
// each item is run alone and an item that throws gets the exception's message.
template <class Result, class Item, class Run>
std::vector<ItemOutcome<Result>> each_or_error(std::span<const Item> items, const Run& run) {
  std::vector<ItemOutcome<Result>> out(items.size());
  try {
    std::vector<Result> all = run(items);
    for (std::size_t i = 0; i < items.size(); ++i) out[i].value = std::move(all[i]);
    return out;
  } catch (const std::exception&) {
    // Fall through: find the item(s) that failed.
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    try {
      out[i].value = std::move(run(items.subspan(i, 1))[0]);
    } catch (const std::exception& e) {
      out[i].error = e.what();
    }
  }
  return out;
}

}  // namespace refusal::base
