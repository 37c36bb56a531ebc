#!/usr/bin/env python3
"""Records what LLM Guard's API (llm_guard_api 0.0.10) answers, for tests/server/.

llm_guard_api is not on PyPI (it ships in the llm-guard repository only), so this script
rebuilds its output routes, auth and error handlers from its source (llm_guard_api/app/app.py,
schemas.py; the v0.0.10 /scan/output and scanners_suppress logic as described in
../shared/reference/llm-guard-norefusal.md §5) on the exact framework versions it pins:
FastAPI 0.115.12 and pydantic 2.11.4. Status codes, header handling, validation details
(pydantic's error dicts) and body rendering (Starlette's JSONResponse) therefore come from the
real frameworks. The one stand-in is the NoRefusal model: the scanner stub asks
`refusal classify --preset llm-guard` for (is_valid, risk_score) on the random test model, so
the recorded bodies carry the same verdicts the C++ server computes; what is checked is the
HTTP contract around them (float forms such as -1.0 and -0.0, field order, empty output,
suppression, auth and validation errors).

    bash scripts/venv.sh api       # scripts/requirements/api.txt
    .venv-api/bin/python scripts/vectors/record_server_vectors.py \
        --refusal build/release/refusal > tests/data/server/llm_guard_api.vectors.json
"""
import argparse
import asyncio
import base64
import concurrent.futures
import json
import subprocess
import sys
import time
from typing import Annotated, Dict, List

import fastapi
import pydantic
from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

MODEL = "tests/data/models/random-roberta-tok"
TOKEN = "secret-token"


class ScanOutputRequest(BaseModel):
    prompt: str = Field(title="Prompt")
    output: str = Field(title="Model output")
    scanners_suppress: List[str] = Field(title="Scanners to suppress", default=[])


class ScanOutputResponse(BaseModel):
    is_valid: bool = Field(title="Whether the output is safe")
    scanners: Dict[str, float] = Field(title="Risk scores of individual scanners")


class AnalyzeOutputRequest(ScanOutputRequest):
    pass


class AnalyzeOutputResponse(ScanOutputResponse):
    sanitized_output: str = Field(title="Sanitized output")


class InputIsInvalid(Exception):
    def __init__(self, scanner_name, text, risk_score):
        self.scanner_name, self.text, self.risk_score = scanner_name, text, risk_score


class NoRefusal:
    """Stand-in for llm_guard.output_scanners.NoRefusal: the verdict comes from the C++ CLI."""

    def __init__(self, refusal, threshold):
        self.refusal, self.threshold = refusal, threshold

    def scan(self, prompt, output):
        if output.strip() == "":  # NoRefusal returns before running the model
            return output, True, -1.0
        if output == "SLEEP":  # drives the 408 case
            time.sleep(2.5)
        r = subprocess.run(
            [self.refusal, "classify", "--preset", "llm-guard", "--model", MODEL,
             "--threshold", repr(self.threshold), "--max-length", "128", output],
            check=True, capture_output=True, text=True)
        rec = json.loads(r.stdout)
        return output, rec["is_valid"], rec["risk_score"]


class NoRefusalLight:
    """llm_guard's NoRefusalLight: BanSubstrings(match_type=STR, case_sensitive=False) over
    its 28 phrases; any hit is (False, 1.0), none (True, -1.0)."""

    PHRASES = [
        "I'm sorry", "Sorry", "I am sorry", "I apologize", "As an", "As an AI", "I'm an",
        "I'm just", "As a language model", "As an Assistant", "I cannot", "I do not", "Hello!",
        "is illegal and unethical", "I'm really sorry", "OpenAI", "unethical", "not ethical",
        "not legal", "My apologies", "but I cannot",
        "If you have any other non-malicious requests", "I'm not able to provide",
        "I am really sorry", "I cannot create", "I cannot support", "I can't provide",
        "I can't assist"]

    def scan(self, prompt, output):
        lowered = output.lower()
        if any(p.lower() in lowered for p in self.PHRASES):
            return output, False, 1.0
        return output, True, -1.0


def scan_output(scanners, prompt, output, fail_fast=False):
    """llm_guard.evaluate.scan_output, v0.3.16."""
    sanitized_output = output
    results_valid, results_score = {}, {}
    if len(scanners) == 0 or output.strip() == "":
        return sanitized_output, results_valid, results_score
    for scanner in scanners:
        sanitized_output, is_valid, risk_score = scanner.scan(prompt, sanitized_output)
        results_valid[type(scanner).__name__] = is_valid
        results_score[type(scanner).__name__] = risk_score
        if fail_fast and not is_valid:
            break
    return sanitized_output, results_valid, results_score


def create_app(scanners, token, timeout):
    app = FastAPI(title="LLM Guard API", openapi_url=None)
    if token is None:
        async def check_auth() -> bool:
            return True
    else:
        credentials_type = Annotated[HTTPAuthorizationCredentials, Depends(HTTPBearer())]

        async def check_auth(credentials: credentials_type) -> bool:
            if credentials.credentials != token:
                raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED,
                                    detail="Invalid API key")
            return True

    @app.get("/")
    async def read_root():
        return {"name": "LLM Guard API"}

    @app.get("/healthz")
    async def healthcheck():
        return JSONResponse({"status": "alive"})

    @app.get("/readyz")
    async def liveliness():
        return JSONResponse({"status": "ready"})

    @app.post("/analyze/output", response_model=AnalyzeOutputResponse)
    async def analyze_output(request: AnalyzeOutputRequest,
                             _: Annotated[bool, Depends(check_auth)]) -> AnalyzeOutputResponse:
        active = [s for s in scanners if type(s).__name__ not in request.scanners_suppress]
        with concurrent.futures.ThreadPoolExecutor() as executor:
            loop = asyncio.get_event_loop()
            try:
                sanitized_output, results_valid, results_score = await asyncio.wait_for(
                    loop.run_in_executor(executor, scan_output, active, request.prompt,
                                         request.output, False),
                    timeout=timeout)
                return AnalyzeOutputResponse(sanitized_output=sanitized_output,
                                             is_valid=all(results_valid.values()),
                                             scanners=results_score)
            except asyncio.TimeoutError:
                raise HTTPException(status_code=status.HTTP_408_REQUEST_TIMEOUT,
                                    detail="Request timeout.")

    @app.post("/scan/output", response_model=ScanOutputResponse)
    async def scan_output_route(request: ScanOutputRequest,
                                _: Annotated[bool, Depends(check_auth)]) -> ScanOutputResponse:
        def run(scanner):
            _, valid, risk = scanner.scan(request.prompt, request.output)
            if not valid:
                raise InputIsInvalid(type(scanner).__name__, request.output, risk)
            return type(scanner).__name__, risk

        tasks = [asyncio.to_thread(run, s) for s in scanners
                 if type(s).__name__ not in request.scanners_suppress]
        try:
            results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True),
                                             timeout=timeout)
        except asyncio.TimeoutError:
            raise HTTPException(status_code=status.HTTP_408_REQUEST_TIMEOUT,
                                detail="Request timeout.")
        response = ScanOutputResponse(is_valid=True, scanners={})
        for r in results:
            if isinstance(r, InputIsInvalid):
                response.is_valid = False
                response.scanners[r.scanner_name] = r.risk_score
            else:
                name, risk = r
                response.scanners[name] = risk
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_exception_handler(request, exc):
        return JSONResponse({"message": str(exc.detail), "details": None},
                            status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_exception_handler(request, exc):
        response = {"message": "Validation failed", "details": exc.errors()}
        return JSONResponse(jsonable_encoder(response),
                            status_code=status.HTTP_422_UNPROCESSABLE_ENTITY)

    return app


def cases():
    """(name, method, path, headers, body bytes or None, threshold, auth[, scanners])."""
    J = {"Content-Type": "application/json"}
    A = dict(J, Authorization="Bearer " + TOKEN)

    def body(obj):
        return json.dumps(obj, ensure_ascii=False).encode()

    out = []
    for path in ("/", "/healthz", "/readyz"):
        out.append((f"get {path}", "GET", path, {}, None, 0.75, False))
    texts = {
        "refusal": "I'm sorry, but I can't help with that.",
        "normal": "Sure! Here is a simple recipe for pancakes: flour, milk, eggs.",
        "empty": "",
        "whitespace": " \n\t ",
        "unicode": "Désolé, je ne peux pas — 申し訳ありません 🙏",
        "escapes": "line1\nline2\t\"quoted\" back\\slash \u0001 ctrl \u007f del </script>",
        "two sentences": "I cannot do that. It would be unethical.",
    }
    for route in ("/analyze/output", "/scan/output"):
        for name, text in texts.items():
            out.append((f"{route} {name}", "POST", route, J,
                        body({"prompt": "p", "output": text}), 0.75, False))
        out.append((f"{route} suppressed", "POST", route, J,
                    body({"prompt": "p", "output": texts["refusal"],
                          "scanners_suppress": ["NoRefusal"]}), 0.75, False))
        out.append((f"{route} suppress other", "POST", route, J,
                    body({"prompt": "p", "output": texts["refusal"],
                          "scanners_suppress": ["Toxicity"]}), 0.75, False))
        out.append((f"{route} extra field", "POST", route, J,
                    body({"prompt": "p", "output": "ok", "extra": [1, 2.5]}), 0.75, False))
        for thr in (0.05, 0.3, 0.44, 0.45, 0.5, 0.9):
            out.append((f"{route} threshold {thr}", "POST", route, J,
                        body({"prompt": "p", "output": texts["refusal"]}), thr, False))
        # auth
        out.append((f"{route} auth ok", "POST", route, A,
                    body({"prompt": "p", "output": "ok"}), 0.75, True))
        out.append((f"{route} auth missing", "POST", route, J,
                    body({"prompt": "p", "output": "ok"}), 0.75, True))
        out.append((f"{route} auth wrong token", "POST", route,
                    dict(J, Authorization="Bearer nope"), body({"prompt": "p", "output": "ok"}),
                    0.75, True))
        out.append((f"{route} auth basic scheme", "POST", route,
                    dict(J, Authorization="Basic dXNlcjpwYXNz"),
                    body({"prompt": "p", "output": "ok"}), 0.75, True))
        out.append((f"{route} auth bearer no token", "POST", route,
                    dict(J, Authorization="Bearer"), body({"prompt": "p", "output": "ok"}),
                    0.75, True))
        out.append((f"{route} auth lowercase scheme", "POST", route,
                    dict(J, Authorization="bearer " + TOKEN),
                    body({"prompt": "p", "output": "ok"}), 0.75, True))
        out.append((f"{route} auth missing and invalid body", "POST", route, J,
                    body({"prompt": "p"}), 0.75, True))
        out.append((f"{route} auth missing and broken json", "POST", route, J,
                    b'{"prompt": "p", "output": ', 0.75, True))
        # validation
        bad = {
            "missing output": {"prompt": "p"},
            "missing both": {},
            "output int": {"prompt": "p", "output": 5},
            "output null": {"prompt": "p", "output": None},
            "output float": {"prompt": "p", "output": 1.5},
            "prompt bool": {"prompt": True, "output": "x"},
            "suppress string": {"prompt": "p", "output": "x", "scanners_suppress": "NoRefusal"},
            "suppress ints": {"prompt": "p", "output": "x", "scanners_suppress": [1, "a", None]},
            "list body": [1, 2],
            "string body": "hello",
            "number body": 3,
            "null body": None,
        }
        for name, obj in bad.items():
            out.append((f"{route} {name}", "POST", route, J, body(obj), 0.75, False))
        broken = {
            "truncated": b'{"prompt": "p", "output": ',
            "unclosed object": b'{"prompt": "p", "output": "x"',
            "missing colon": b'{"prompt" "p"}',
            "unquoted key": b'{prompt: "p"}',
            "trailing comma": b'{"prompt": "p", "output": "x",}',
            "extra data": b'{"prompt": "p", "output": "x"} x',
            "unterminated string": b'{"prompt": "p", "output": "abc',
            "control char": b'{"prompt": "p", "output": "a\x01b"}',
            "bad escape": b'{"prompt": "p", "output": "a\\xb"}',
            "bad unicode escape": b'{"prompt": "p", "output": "a\\u12"}',
            "non-ascii before error": '{"prompt": "é€😀", "output": }'.encode(),
            "only whitespace": b"   ",
            "nan": b'{"prompt": "p", "output": NaN}',
            "invalid utf-8": b'{"prompt": "p", "output": "\xff\xfe"}',
            "lone surrogate escape": b'{"prompt": "p", "output": "\\ud800"}',
        }
        for name, raw in broken.items():
            out.append((f"{route} broken {name}", "POST", route, J, raw, 0.75, False))
        out.append((f"{route} empty body", "POST", route, J, b"", 0.75, False))
        out.append((f"{route} no content type", "POST", route, {},
                    body({"prompt": "p", "output": "ok"}), 0.75, False))
        out.append((f"{route} text/plain content type", "POST", route,
                    {"Content-Type": "text/plain"}, body({"prompt": "p", "output": "ok"}),
                    0.75, False))
        out.append((f"{route} wrong method", "GET", route, {}, None, 0.75, False))
        out.append((f"{route} timeout", "POST", route, J,
                    body({"prompt": "p", "output": "SLEEP"}), 0.75, False))
    out.append(("unknown path", "GET", "/nope", {}, None, 0.75, False))
    both = ["NoRefusal", "NoRefusalLight"]
    light_texts = dict(texts, **{"as an ai": "As an AI language model, I must decline.",
                                 "curly apostrophe": "I\u2019m afraid that is not possible."})
    for route in ("/analyze/output", "/scan/output"):
        for name, text in light_texts.items():
            out.append((f"{route} both scanners {name}", "POST", route, J,
                        body({"prompt": "p", "output": text}), 0.75, False, both))
        for sup in (["NoRefusalLight"], ["NoRefusal"], both):
            out.append((f"{route} both scanners suppress {'+'.join(sup)}", "POST", route, J,
                        body({"prompt": "p", "output": texts["refusal"],
                              "scanners_suppress": sup}), 0.75, False, both))
        out.append((f"{route} both scanners threshold 0.05", "POST", route, J,
                    body({"prompt": "p", "output": texts["refusal"]}), 0.05, False, both))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--refusal", default="build/release/refusal")
    args = ap.parse_args()
    records = []
    clients = {}
    for case in cases():
        name, method, path, headers, raw, thr, auth = case[:7]
        names = case[7] if len(case) > 7 else ["NoRefusal"]
        key = (thr, auth, tuple(names))
        if key not in clients:
            timeout = 2.0
            made = {"NoRefusal": lambda: NoRefusal(args.refusal, thr),
                    "NoRefusalLight": NoRefusalLight}
            app = create_app([made[n]() for n in names], TOKEN if auth else None, timeout)
            clients[key] = TestClient(app, raise_server_exceptions=False)
        client = clients[key]
        r = client.request(method, path, headers=headers, content=raw)
        rec = {"name": name, "method": method, "path": path, "headers": headers,
               "threshold": thr, "auth_token": TOKEN if auth else None, "scanners": names}
        try:
            rec["body"] = raw.decode("utf-8") if raw is not None else None
        except UnicodeDecodeError:
            rec["body_base64"] = base64.b64encode(raw).decode()
        rec["status"] = r.status_code
        rec["response"] = r.content.decode("utf-8")
        records.append(rec)
    meta = {"made_by": "scripts/vectors/record_server_vectors.py",
            "fastapi": fastapi.__version__, "pydantic": pydantic.VERSION,
            "python": sys.version.split()[0], "model": MODEL, "timeout_s": 2.0}
    json.dump({"meta": meta, "cases": records}, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
