"""A straightforward loop version of the GUI-KV selection, written plainly from spec C.3 with our GQA reduction.

Per query head: window attention (one dot product at a time) -> sum over the window rows -> average pool; the mean over
the G query heads of each KV head; + alpha * saliency on the current screenshot; the floor((1 - b) N_prev) earlier-
screenshot tokens with the smallest residuals get score 0; top-k + the window. The tests check that the vectorised
press selects exactly these tokens; ``bench selection --plain-loop`` times it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from guikv.cache import TEXT
from guikv.saliency import spatial_saliency


def plain_loop_selection(q, keys, frames, norms, current, span, capacity, logical, window, alpha, tau, rank, kind):
    b_size, h, w, d = q.shape
    h_kv, s = keys.shape[1], keys.shape[2]
    group = h // h_kv
    kept = torch.empty(b_size, h_kv, capacity, dtype=torch.long)
    for b in range(b_size):
        for kv in range(h_kv):
            head_scores = []
            for g in range(group):
                head = kv * group + g
                rows = []
                for i in range(w):
                    logits = torch.empty(s)
                    for j in range(s):
                        visible = j < s - w or (j - (s - w)) <= i
                        logits[j] = (q[b, head, i] @ keys[b, kv, j]) / math.sqrt(d) if visible else -math.inf
                    rows.append(torch.softmax(logits, dim=0))
                summed = torch.stack(rows).sum(0)[: s - w]
                pooled = F.avg_pool1d(summed[None, None], 5, stride=1, padding=2, count_include_pad=True)[0, 0]
                head_scores.append(pooled)
            score = torch.stack(head_scores).mean(0)
            weights = spatial_saliency(norms[b][None], tau)[0]
            for t, slot in enumerate(range(span[0], span[1])):
                if slot < s - w:
                    score[slot] += alpha * weights[t]
            earlier = [j for j in range(s - w) if frames[b, kv, j] != TEXT and frames[b, kv, j] != current]
            if earlier:
                current_keys = keys[b, kv, span[0] : span[1]]
                if kind == "first_tokens":
                    basis = torch.linalg.qr(current_keys[:rank].T)[0]
                else:
                    basis = torch.linalg.svd(current_keys, full_matrices=False)[2][:rank].T
                res = {j: torch.linalg.norm(keys[b, kv, j] - basis @ (basis.T @ keys[b, kv, j])).item() for j in earlier}
                n_zero = math.floor(len(earlier) * (1 - capacity / logical))
                for j in sorted(earlier, key=lambda j: res[j])[:n_zero]:
                    score[j] = 0.0
            top = torch.topk(score, capacity - w).indices.tolist()
            kept[b, kv] = torch.tensor(sorted(top + list(range(s - w, s))))
    return kept
