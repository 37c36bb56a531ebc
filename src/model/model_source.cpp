// Finding a model's files: a folder, a Hugging Face cache folder, or a hub id in the local cache.
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>

#include "model/json_file.h"
#include "refusal/error.h"
#include "refusal/model.h"

namespace refusal {
namespace fs = std::filesystem;

namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::optional<fs::path> existing(const fs::path& p) {
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return p;
  return std::nullopt;
}

std::string read_ref(const fs::path& ref) {
  std::ifstream in(ref);
  std::string rev;
  std::getline(in, rev);
  while (!rev.empty() && (rev.back() == '\n' || rev.back() == '\r' || rev.back() == ' ')) {
    rev.pop_back();
  }
  return rev;
}

// A `models--ORG--NAME` cache folder → its snapshot for `revision` (a branch or tag under refs/,
// or a commit hash under snapshots/).
fs::path snapshot_of(const fs::path& repo, const std::string& revision, const std::string& what) {
  fs::path ref = repo / "refs" / revision;
  std::string commit = revision;
  if (fs::is_regular_file(ref)) commit = read_ref(ref);
  fs::path snap = repo / "snapshots" / commit;
  if (!fs::is_directory(snap)) {
    std::string known;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(repo / "snapshots", ec)) {
      known += (known.empty() ? "" : ", ") + e.path().filename().string();
    }
    throw Error(what + ": revision '" + revision + "' not in the local cache at " + repo.string() +
                (fs::is_regular_file(ref) ? " (refs/" + revision + " says " + commit + ")" : "") +
                "; snapshots present: " + (known.empty() ? "none" : known));
  }
  return snap;
}

bool looks_like_cache_repo(const fs::path& dir) {
  return fs::is_directory(dir / "snapshots") && dir.filename().string().rfind("models--", 0) == 0;
}

// Both canonical: `path` is `root` or below it.
bool is_within(const fs::path& path, const fs::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

// Where a shard named by model.safetensors.index.json may be: inside the model folder, also
// once symlinks are followed. A Hugging Face cache snapshot's files are links into the repo's
// blobs/ folder (models--ORG--NAME/snapshots/REV/x -> ../../blobs/HASH): that folder too.
std::vector<fs::path> shard_roots(const fs::path& folder) {
  std::vector<fs::path> roots;
  std::error_code ec;
  const fs::path canonical = fs::canonical(folder, ec);
  if (ec) return {folder.lexically_normal()};
  roots.push_back(canonical);
  const fs::path repo = canonical.parent_path().parent_path();
  if (canonical.parent_path().filename() == "snapshots" && looks_like_cache_repo(repo)) {
    if (const fs::path blobs = fs::canonical(repo / "blobs", ec); !ec) roots.push_back(blobs);
  }
  return roots;
}

// The shard file an index entry names, refused unless it is a relative path that stays inside
// the model folder: an index from a stranger must not make refusal read /etc/passwd,
// ../../secret or a link to either.
fs::path shard_path(const fs::path& folder, const std::vector<fs::path>& roots,
                    const fs::path& index, const std::string& tensor, const std::string& shard) {
  const std::string entry = index.string() + ": field 'weight_map': entry '" + tensor + "': ";
  if (shard.empty()) throw Error(entry + "the shard's file name is empty");
  if (shard.find('\0') != std::string::npos) throw Error(entry + "the shard's name holds a NUL");
  const std::string at = entry + "shard '" + shard + "' ";
  const fs::path name(shard);
  if (name.has_root_path()) {
    throw Error(at + "is an absolute path (shards are named relative to the model folder)");
  }
  for (const auto& part : name) {
    if (part == "..") throw Error(at + "climbs out of the model folder ('..')");
  }
  const fs::path path = folder / name;
  std::error_code ec;
  const fs::path target = fs::canonical(path, ec);
  if (ec) return path;  // missing or a dangling link: reported as a missing shard
  bool inside = false;
  for (const auto& root : roots) inside = inside || is_within(target, root);
  if (!inside) {
    throw Error(at + "resolves to " + target.string() +
                ", outside the model folder (a symbolic link out of the folder)");
  }
  return path;
}

// Fills in every file of a model folder.
ModelFiles files_in(const fs::path& folder, std::string request, std::string how) {
  ModelFiles f;
  f.request = std::move(request);
  f.resolved_as = std::move(how);
  f.folder = folder;
  f.config = folder / "config.json";
  if (!existing(f.config)) {
    throw Error(folder.string() +
                ": no config.json in this folder (is it a Hugging Face model "
                "folder?)");
  }
  if (auto single = existing(folder / "model.safetensors")) {
    f.weights.push_back(*single);
  } else if (auto index = existing(folder / "model.safetensors.index.json")) {
    f.weights_index = *index;
    const auto doc = model::read_json_file(*index);
    if (!doc.is_object() || !doc.contains("weight_map") || !doc.at("weight_map").is_object()) {
      throw Error(index->string() + ": field 'weight_map': missing or not an object");
    }
    const std::vector<fs::path> roots = shard_roots(folder);
    for (const auto& [tensor, shard] : doc.at("weight_map").items()) {
      if (!shard.is_string()) {
        throw Error(index->string() + ": field 'weight_map': entry '" + tensor +
                    "' is not a file name");
      }
      const fs::path path = shard_path(folder, roots, *index, tensor, shard.get<std::string>());
      if (std::find(f.weights.begin(), f.weights.end(), path) == f.weights.end()) {
        f.weights.push_back(path);
      }
    }
    for (const auto& w : f.weights) {
      if (!existing(w)) {
        throw Error(index->string() + ": shard " + w.filename().string() + " is missing from " +
                    folder.string());
      }
    }
  } else if (existing(folder / "pytorch_model.bin")) {
    throw Error(folder.string() +
                ": only pytorch_model.bin found; refusal reads safetensors. "
                "Convert with: python -c \"from transformers import "
                "AutoModelForSequenceClassification as M; "
                "M.from_pretrained('" +
                folder.string() + "').save_pretrained('" + folder.string() +
                "', safe_serialization=True)\"");
  } else {
    throw Error(folder.string() + ": no model.safetensors or model.safetensors.index.json");
  }
  f.tokenizer = find_tokenizer_files(folder);
  return f;
}

}  // namespace

fs::path hf_hub_cache_dir() {
  if (auto v = env("HF_HUB_CACHE")) return *v;
  if (auto v = env("HUGGINGFACE_HUB_CACHE")) return *v;
  if (auto v = env("HF_HOME")) return fs::path(*v) / "hub";
  if (auto v = env("XDG_CACHE_HOME")) return fs::path(*v) / "huggingface" / "hub";
  if (auto v = env("HOME")) return fs::path(*v) / ".cache" / "huggingface" / "hub";
  return fs::path(".cache") / "huggingface" / "hub";
}

ModelFiles resolve_model(const std::string& model) {
  if (model.empty()) throw Error("model: empty name (give a folder or a hub id)");
  const fs::path as_path(model);
  std::error_code ec;
  if (fs::is_directory(as_path, ec)) {
    if (looks_like_cache_repo(as_path)) {
      return files_in(snapshot_of(as_path, "main", model), model, "hf-cache folder");
    }
    const bool in_snapshots = as_path.parent_path().filename() == "snapshots";
    return files_in(as_path, model, in_snapshots ? "hf-cache folder" : "folder");
  }
  if (fs::exists(as_path, ec)) throw Error(model + ": not a folder (give the model's folder)");

  // A hub id: ORG/NAME or NAME, optionally @REVISION. Anything else is a missing folder.
  std::string id = model;
  std::string revision = "main";
  if (auto at = id.find('@'); at != std::string::npos) {
    revision = id.substr(at + 1);
    id = id.substr(0, at);
  }
  const bool hub_like = !id.empty() && id.find("//") == std::string::npos &&
                        std::count(id.begin(), id.end(), '/') <= 1 && id.front() != '.' &&
                        id.front() != '/' && id.back() != '/' && !revision.empty();
  if (!hub_like) throw Error(model + ": no such folder");

  const fs::path cache = hf_hub_cache_dir();
  std::string repo_dir = "models--" + id;
  for (std::size_t pos = 0; (pos = repo_dir.find('/', pos)) != std::string::npos;) {
    repo_dir.replace(pos, 1, "--");
  }
  const fs::path repo = cache / repo_dir;
  if (!fs::is_directory(repo / "snapshots")) {
    throw Error(model + ": no such folder, and not in the local Hugging Face cache (looked in " +
                repo.string() +
                "; set HF_HUB_CACHE or HF_HOME to use another cache). refusal "
                "never downloads; fetch it once with: hf download " +
                id + " (pip install huggingface_hub), then run again");
  }
  return files_in(snapshot_of(repo, revision, model), model, "hub id (local cache)");
}

}  // namespace refusal
