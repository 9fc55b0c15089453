"""The forward passes of the `hf` backend: prompt encoding, closed-vocabulary ranking, greedy generation.

Ranking scores each candidate condition label as the answer to a "most likely diagnosis" question: the mean
log-probability of the label's tokens (length-normalised). One batched prefill encodes the images and prompts;
every (request, label) pair then continues its request's row of that key/value cache (the pairs of the whole
batch sorted by label length and cut into chunks, so little padding), so the images and prompts are encoded once
whatever the number of candidates.

Positions are computed from the attention mask exactly as `generate()` does, so left padding does not change a
request's result: a request scores the same alone or in a batch (up to float rounding).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

# Bounds on one forward pass of the ranking step: rows (label continuations) and rows x tokens. They bound its
# memory (the logits are rows x tokens x vocabulary) while keeping the matrices large enough to be efficient.
RANK_CHUNK_ROWS = 64
RANK_CHUNK_TOKENS = 512


@dataclass(frozen=True)
class Prompt:
    """One request's images and user text."""

    images: Sequence[Image.Image]
    text: str


class Scorer:
    """Runs a loaded image-text-to-text model and its processor. Not thread-safe: one caller at a time."""

    def __init__(self, model: Any, processor: Any, device: torch.device, dtype: torch.dtype) -> None:
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.device = device
        self.dtype = dtype
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self._label_ids: dict[str, list[int]] = {}

    # -- encoding -------------------------------------------------------------------------------------------

    def encode(self, prompts: Sequence[Prompt]) -> dict[str, torch.Tensor]:
        """Tokenize and preprocess a batch through the processor's chat template (left padded)."""
        conversations = [
            [
                {
                    "role": "user",
                    "content": [
                        *({"type": "image", "image": image} for image in prompt.images),
                        {"type": "text", "text": prompt.text},
                    ],
                }
            ]
            for prompt in prompts
        ]
        inputs = self.processor.apply_chat_template(
            conversations,
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
            processor_kwargs={"padding": True},
        )
        out: dict[str, torch.Tensor] = {}
        for key, value in inputs.items():
            if not isinstance(value, torch.Tensor):
                continue
            value = value.to(self.device)
            if value.is_floating_point():
                value = value.to(self.dtype)
            out[key] = value
        return out

    def label_ids(self, label: str) -> list[int]:
        """The token ids of a candidate label as the start of the model's answer (cached)."""
        if label not in self._label_ids:
            ids = self.tokenizer(label, add_special_tokens=False)["input_ids"]
            if not ids:
                raise ValueError(f"the label {label!r} tokenizes to nothing")
            self._label_ids[label] = list(ids)
        return self._label_ids[label]

    # -- ranking --------------------------------------------------------------------------------------------

    @torch.inference_mode()
    def rank(self, prompts: Sequence[Prompt], labels: Sequence[Sequence[str]]) -> list[list[float]]:
        """Mean log-probability of each label (per prompt its own list) as the answer, sharing one prefill."""
        inputs = self.encode(prompts)
        mask = inputs["attention_mask"]
        out = self.model(**inputs, position_ids=_positions(mask), use_cache=True, logits_to_keep=1)
        cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
        first = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)
        # Every (prompt, label) pair, shortest labels first, so that a chunk of rows needs little padding
        # whichever prompts the rows continue.
        pairs = sorted(
            (len(ids), row, col, ids)
            for row, row_labels in enumerate(labels)
            for col, ids in enumerate(self.label_ids(label) for label in row_labels)
        )
        results = [[0.0] * len(row_labels) for row_labels in labels]
        for chunk in _chunks(pairs):
            scores = self._score_chunk(cache, mask, first, [(row, ids) for _, row, _, ids in chunk])
            for (_, row, col, _), score in zip(chunk, scores, strict=True):
                results[row][col] = score
        return results

    def _score_chunk(
        self, cache: Any, mask: torch.Tensor, first: torch.Tensor, chunk: list[tuple[int, list[int]]]
    ) -> list[float]:
        """Scores of label continuations, each row continuing prompt `row` of the cache."""
        n = len(chunk)
        width = max(len(ids) for _, ids in chunk)
        rows = torch.tensor([row for row, _ in chunk], dtype=torch.long, device=self.device)
        ids = torch.full((n, width), self.pad_id, dtype=torch.long, device=self.device)
        cand_mask = torch.zeros((n, width), dtype=mask.dtype, device=self.device)
        for i, (_, label) in enumerate(chunk):
            ids[i, : len(label)] = torch.tensor(label, device=self.device)
            cand_mask[i, : len(label)] = 1
        totals = first[rows, ids[:, 0]]
        if width > 1:
            prompt_mask = mask[rows]
            attention = torch.cat([prompt_mask, cand_mask], dim=1)
            positions = prompt_mask.long().sum(dim=1, keepdim=True) + torch.arange(width, device=self.device)
            logits = self.model(
                input_ids=ids,
                attention_mask=attention,
                position_ids=positions,
                cache=_select_rows(cache, rows),
                use_cache=True,
            ).logits
            logp = torch.log_softmax(logits[:, :-1, :].float(), dim=-1)
            picked = logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1) * cand_mask[:, 1:]
            totals = totals + picked.sum(dim=1)
        lengths = torch.tensor([len(label) for _, label in chunk], device=self.device, dtype=torch.float32)
        return [float(x) for x in (totals / lengths).tolist()]

    @torch.inference_mode()
    def rank_without_cache(self, prompt: Prompt, labels: Sequence[str]) -> list[float]:
        """The same scores as `rank`, from one full forward pass per label: slow, a reference for tests."""
        scores = []
        for label in labels:
            inputs = self.encode([prompt])
            label_ids = torch.tensor([self.label_ids(label)], device=self.device)
            inputs["input_ids"] = torch.cat([inputs["input_ids"], label_ids], dim=1)
            inputs["attention_mask"] = torch.cat([inputs["attention_mask"], torch.ones_like(label_ids)], dim=1)
            if "token_type_ids" in inputs:
                inputs["token_type_ids"] = torch.cat([inputs["token_type_ids"], torch.zeros_like(label_ids)], dim=1)
            logits = self.model(**inputs, position_ids=_positions(inputs["attention_mask"])).logits
            n = label_ids.shape[1]
            logp = torch.log_softmax(logits[0, -n - 1 : -1, :].float(), dim=-1)
            scores.append(float(logp.gather(-1, label_ids[0].unsqueeze(-1)).mean()))
        return scores

    # -- generation -----------------------------------------------------------------------------------------

    @torch.inference_mode()
    def generate(self, prompts: Sequence[Prompt], max_new_tokens: int) -> list[str]:
        """Greedy replies, decoded without special tokens."""
        inputs = self.encode(prompts)
        output = self.model.generate(
            **inputs,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            max_new_tokens=max_new_tokens,
            pad_token_id=self.pad_id,
        )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return [str(text) for text in self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]

    @torch.inference_mode()
    def probe(self) -> None:
        """A minimal real forward pass (one small grey image); raises RuntimeError if the logits are not finite."""
        inputs = self.encode([Prompt(images=[Image.new("RGB", (32, 32), (128, 128, 128))], text="ok")])
        logits = self.model(**inputs, position_ids=_positions(inputs["attention_mask"]), logits_to_keep=1).logits
        if not torch.isfinite(logits[:, -1, :]).all():
            raise RuntimeError("the model produced non-finite logits")


def _chunks(pairs: list[tuple[int, int, int, list[int]]]) -> list[list[tuple[int, int, int, list[int]]]]:
    """Consecutive groups of (length-sorted) pairs within RANK_CHUNK_ROWS rows and RANK_CHUNK_TOKENS tokens."""
    chunks: list[list[tuple[int, int, int, list[int]]]] = []
    current: list[tuple[int, int, int, list[int]]] = []
    for pair in pairs:
        rows = len(current) + 1
        if current and (rows > RANK_CHUNK_ROWS or rows * pair[0] > RANK_CHUNK_TOKENS):
            chunks.append(current)
            current = []
        current.append(pair)
    if current:
        chunks.append(current)
    return chunks


def _positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids from a left-padded attention mask, as `generate()` computes them."""
    positions = mask.long().cumsum(-1) - 1
    return positions.masked_fill(mask == 0, 0)


def _select_rows(cache: Any, rows: torch.Tensor) -> Any:
    """A new cache holding `rows` of `cache` (which is left untouched, so it can serve the next chunk)."""
    selected = copy.copy(cache)
    selected.layers = [copy.copy(layer) for layer in cache.layers]
    for layer in selected.layers:
        layer.batch_select_indices(rows)
    return selected
