"""Compiled inference for a river ``ARFClassifier`` and for a :class:`ModelBundle`.

River predicts one flow at a time in Python: each member walks its Hoeffding tree to a
leaf and asks the leaf for a class distribution (majority class, or naive Bayes over the
Gaussian estimators the leaf keeps per class and feature). :class:`CompiledForest`
flattens every member into arrays once and scores blocks of flows in numba kernels. A
flow reaches the leaf it reaches in river, and every probability is within
:data:`AGREEMENT` (``1e-9``; about ``1e-15`` in practice) of river's: the kernels give up
river's order of operations where that pays and keep it where rounding could matter.

* A branch sends ``x <= threshold`` left (NaN right); a branch on a feature that flows
  do not have takes river's most common path; any other branch type raises
  :class:`UnsupportedModelError`. Every member walks a block of flows in lockstep,
  branch-free, as many steps as its depth (a leaf steps onto itself).
* A leaf's choice between majority class and naive Bayes (``mc``: never; ``nb``: active
  and ``total_weight >= nb_threshold``; ``nba``: active and naive Bayes has been right at
  least as often) is made when compiling, as is every majority-class distribution, its
  normalised form and its entropy: such a leaf is a table lookup.
* Naive Bayes follows river's rules: a class of weight ``<= 0`` votes a log-likelihood of
  ``0.0``; a feature with no estimator for a class, a variance of zero (``x == mu``
  included), fewer than two samples, or a log density of ``-inf`` or NaN adds nothing.
  The fast path precomputes each class's ``log prior - sum 0.5 log(2 pi variance)`` and
  adds ``-(x - mu)^2 / (2 variance)`` per feature, then a softmax that leaves out classes
  more than 50 nats below the best (probability < 2e-22), with one ``log`` per leaf for
  the entropy. Where it could stray from river's sums by more than ``1e-11`` nats (log
  densities so large that rounding matters while the classes are close), or a sum is not
  finite (river skips such terms), the leaf is recomputed with river's arithmetic,
  operation for operation (:func:`_exact_naive_bayes`). A leaf that knows one class only
  answers 1.0 whenever the flow is close enough to its estimators that the sums provably
  stay finite.
* An empty member (no root yet) predicts nothing; a member's background learner is not
  a member (river predicts with the foreground tree only).

Two inputs no scaled flow can produce behave differently: where ``(x - mu) ** 2``
overflows (``|x - mu| > 1.3e154``) river raises ``OverflowError`` and the compiled form
adds nothing for that feature.

:class:`CompiledModel` adds a bundle's frozen scaler (NumPy's ``log1p``, the rest inside
the kernel: the same bits as ``FeatureScaler.transform``), label vocabulary, schema and
confident vote, and answers as ``ModelBundle.predict_matrix`` and ``predict_one`` do:
same labels, trees used and validation errors, probabilities within :data:`AGREEMENT`
(only a member whose entropy lies within a rounding error of the confidence threshold
could be judged differently; no such flow has been seen).
``predict_matrix(X, workers=2)`` scores contiguous row chunks in threads (the kernels
release the GIL; each call makes its own threads and buffers, so concurrent calls are
safe) and gives the same answers, to the bit, as one worker. Both classes are immutable
snapshots: a forest that learns afterwards needs a new compile
(``ModelBundle.compile()``; it is cheap).

>>> import numpy as np
>>> from arf_ids.core.model import ArfConfig, ModelBundle
>>> from arf_ids.core.schema import FlowSchema
>>> X = np.random.default_rng(0).normal(size=(600, 2))
>>> bundle = ModelBundle.train(X, np.where(X[:, 0] > 0, "ATTACK", "BENIGN"), schema=FlowSchema(features=("a", "b")),
...                            classes=("BENIGN", "ATTACK"), config=ArfConfig(n_models=3))
>>> compiled = bundle.compile()
>>> compiled.predict_one({"a": 3.0, "b": 0.0}).label
'ATTACK'
>>> batch = compiled.predict_matrix(X[:50])
>>> reference = bundle.predict_matrix_reference(X[:50])
>>> bool((batch.labels == reference.labels).all()), bool(np.allclose(batch.probabilities, reference.probabilities))
(True, True)
>>> forest = CompiledForest.from_river(bundle.arf, features=("a", "b"), classes=(0, 1))
>>> forest.member_distributions(bundle.scaler.transform(X[:4])).shape
(4, 3, 2)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numba
import numpy as np
import river
from numba.core.errors import TypingError
from numpy.typing import NDArray
from river import forest, proba
from river.tree.hoeffding_tree_classifier import HoeffdingTreeClassifier
from river.tree.nodes.branch import DTBranch, NumericBinaryBranch
from river.tree.nodes.htc_nodes import LeafMajorityClass, LeafNaiveBayes, LeafNaiveBayesAdaptive
from river.tree.nodes.leaf import HTLeaf
from river.tree.splitter.gaussian_splitter import GaussianSplitter

from arf_ids.core.errors import ArfIdsError, InvalidFlowError
from arf_ids.core.model import FeatureScaler, LabelEncoder, Prediction, PredictionBatch, validated_matrix
from arf_ids.core.schema import Flow, FlowSchema

if TYPE_CHECKING:
    from arf_ids.core.model import ModelBundle

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

#: The river release whose prediction rules the kernels reproduce.
RIVER_VERSION = "0.26.1"
#: The compiled probabilities (per member and voted) are within this of river's.
AGREEMENT = 1e-9

# Leaf kinds.
_FIXED = 0  # the distribution does not depend on x (majority class, or naive Bayes with no weight)
_NAIVE_BAYES = 1
_NAIVE_BAYES_ONE_CLASS = 2  # naive Bayes over exactly one class of positive weight

#: river's ``0.5 * log(tau)`` of ``Gaussian.log_pdf``.
_HALF_LOG_TAU = 0.5 * math.log(math.tau)
#: river squares ``x - mu`` with Python's ``**`` (libm ``pow``), which now and then differs
#: from the correctly rounded ``d * d`` in the last bit. The exact path passes it at run
#: time so that LLVM cannot rewrite ``pow(d, 2.0)`` as ``d * d``.
_SQUARE = 2.0
#: A one-class leaf answers 1.0 without its sums while every ``|x - mu| <= sigma * 1e149``:
#: each log density then stays above ``-1e298``, so no sum can reach ``-inf``.
_SAFE_SIGMAS = 1e149
#: The fast softmax leaves out classes this many nats below the best (``exp(-50) < 2e-22``).
_NEGLIGIBLE_NATS = 50.0
#: The fast naive-Bayes log-likelihood of a class that matters stays within this of river's:
#: both are sums of ``n`` terms rounded at most ``(n + 4) * 2**-53`` of their magnitude
#: apart, so a class whose magnitude exceeds ``_LOG_AGREEMENT / (2 (n + 4) 2**-53)``
#: (about 6,000 nats for 4 features) is left to the exact path.
_LOG_AGREEMENT = 1e-11
#: Flows per block of the vote kernel: each member walks a block at once.
_BLOCK = 128
#: A walk step reads ``child << _CHILD_SHIFT | feature`` (so at most 65,536 features).
_CHILD_SHIFT = np.uint64(16)
_FEATURE_MASK = np.uint64((1 << 16) - 1)
#: ``predict_matrix(workers > 1)`` gives each thread at least this many rows.
_ROWS_PER_WORKER = 4096
#: ``CompiledModel`` takes ``log1p(|x|)`` for this many rows at a time (a buffer that stays in L2).
_SCALE_ROWS = 2048


class UnsupportedModelError(ArfIdsError, TypeError):
    """The river model holds something the compiled form does not reproduce.

    Raised when compiling, never at prediction time: a nominal or multi-way branch, a leaf,
    splitter or estimator type other than river's Hoeffding-tree classification ones, a
    class the vocabulary does not list, too many features, or another river version.
    """


# ------------------------------------------------------------------ kernels: exact path


@numba.njit(cache=True, nogil=True)
def _block_sum(values: FloatArray, start: int, n: int) -> float:  # pragma: no cover - compiled
    """NumPy's float64 ``sum`` of ``values[start:start + n]`` for ``n <= 128``, operation for operation."""
    if n < 8:
        total = 0.0
        for i in range(start, start + n):
            total += values[i]
        return total
    r0, r1, r2, r3 = values[start], values[start + 1], values[start + 2], values[start + 3]
    r4, r5, r6, r7 = values[start + 4], values[start + 5], values[start + 6], values[start + 7]
    i = 8
    while i < n - (n % 8):
        j = start + i
        r0 += values[j]
        r1 += values[j + 1]
        r2 += values[j + 2]
        r3 += values[j + 3]
        r4 += values[j + 4]
        r5 += values[j + 5]
        r6 += values[j + 6]
        r7 += values[j + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        total += values[start + i]
        i += 1
    return total


@numba.njit(cache=True, nogil=True)
def _pairwise_sum(values: FloatArray, start: int, n: int) -> float:  # pragma: no cover - compiled
    """NumPy's float64 ``sum`` of ``values[start:start + n]``: blocks of at most 128 added pairwise.

    NumPy recurses on ``(n // 2 rounded down to a multiple of 8, the rest)``; this walks the
    same tree with an explicit stack: a cached recursive function segfaults when loaded
    from the cache (numba issue #6061).
    """
    if n <= 128:
        return _block_sum(values, start, n)
    starts = np.empty(64, dtype=np.int64)
    sizes = np.empty(64, dtype=np.int64)
    stages = np.zeros(64, dtype=np.int64)  # 0: not split yet, 1: left half pending, 2: right half pending
    lefts = np.empty(64)
    starts[0], sizes[0], top = start, n, 1
    result, returning = 0.0, False
    while top > 0:
        i = top - 1
        if returning:
            if stages[i] == 1:
                lefts[i], stages[i] = result, 2
                half = sizes[i] // 2 - (sizes[i] // 2) % 8
                starts[top], sizes[top], stages[top] = starts[i] + half, sizes[i] - half, 0
                top += 1
                returning = False
            else:
                result = lefts[i] + result
                top -= 1
        elif sizes[i] <= 128:
            result = _block_sum(values, starts[i], sizes[i])
            top -= 1
            returning = True
        else:
            half = sizes[i] // 2 - (sizes[i] // 2) % 8
            stages[i] = 1
            starts[top], sizes[top], stages[top] = starts[i], half, 0
            top += 1
    return result


@numba.njit(cache=True, nogil=True)
def _exact_naive_bayes(
    x: FloatArray,
    first: int,
    last: int,
    entry_index: IntArray,
    entry_prior: FloatArray,
    term_feature: IntArray,
    term_stats: FloatArray,
    square: float,
    votes: FloatArray,
    out: FloatArray,
) -> None:  # pragma: no cover - compiled
    """river's ``do_naive_bayes_prediction`` (``GaussianSplitter.cond_log_proba``), operation for operation.

    Writes the class columns of entries ``first:last`` of ``out`` and no other.
    """
    for e in range(first, last):
        vote = entry_prior[e]
        for k in range(entry_index[e, 1], entry_index[e, 2]):
            # Gaussian.log_pdf: (x - mu) ** 2 / (-2.0 * variance) - _HALF_LOG_TAU - 0.5 * math.log(variance)
            deviation = x[term_feature[k]] - term_stats[k, 0]
            log_p = deviation**square / term_stats[k, 1] - _HALF_LOG_TAU - term_stats[k, 2]
            if log_p > -math.inf:
                vote += log_p
        votes[e - first] = vote
    max_ll = votes[0]
    for e in range(1, last - first):
        if votes[e] > max_ll:
            max_ll = votes[e]
    total = 0.0
    for e in range(last - first):
        total += math.exp(votes[e] - max_ll)
    lse = max_ll + math.log(total)
    for e in range(first, last):
        out[entry_index[e, 0]] = math.exp(votes[e - first] - lse)


@numba.njit(cache=True, nogil=True)
def _normalised_entropy(row: FloatArray, scratch: FloatArray) -> float:  # pragma: no cover - compiled
    """``confident_vote`` on one member's row: normalise it in place and return its entropy.

    NaN (row untouched) when the member does not vote (its row does not sum to more than 0).
    Repeats NumPy's pairwise sums, so it is the reference's arithmetic.
    """
    n = row.shape[0]
    total = _pairwise_sum(row, 0, n)
    if not total > 0:
        return math.nan
    for c in range(n):
        row[c] = row[c] / total
        scratch[c] = row[c] * math.log(row[c]) if row[c] > 0 else row[c] * 0.0
    return -_pairwise_sum(scratch, 0, n)


# ------------------------------------------------------------------- kernels: fast path


@numba.njit(cache=True, nogil=True, inline="always")
def _fast_naive_bayes(
    x: FloatArray,
    at: int,
    first: int,
    last: int,
    entry_index: IntArray,
    entry_constant: FloatArray,
    entry_headroom: FloatArray,
    term_feature: IntArray,
    term_mean: FloatArray,
    term_weight: FloatArray,
    work: FloatArray,
) -> float:  # pragma: no cover - compiled
    """A naive-Bayes leaf's entropy for the flow at ``x[at:]``; its distribution is left in ``work[:last - first]``.

    The distribution is normalised and in entry order. NaN when the exact path must
    answer: a log-likelihood that is not finite (river skips a ``-inf`` log density; here
    it would poison the sum) or a class within reach of the best whose log-likelihood is
    too large for the fast sums to agree with river's. ``work`` holds at least
    ``2 * (last - first)`` values. Inlined into the kernels (numba IR), which also spares
    the reference counting of its arrays at every call.
    """
    m = last - first
    top = -math.inf
    for e in range(first, last):
        total = 0.0
        for k in range(entry_index[e, 1], entry_index[e, 2]):
            deviation = x[at + term_feature[k]] - term_mean[k]
            total += term_weight[k] * (deviation * deviation)
        work[m + e - first] = total
        vote = entry_constant[e] + total
        work[e - first] = vote
        top = max(top, vote)
    mass = 0.0
    weighted = 0.0
    for e in range(first, last):
        s = e - first
        if not work[s] > -math.inf:  # -inf or NaN
            return math.nan
        total = work[m + s]
        gap = work[s] - top
        if gap >= -_NEGLIGIBLE_NATS:
            if total < -entry_headroom[e]:
                return math.nan
            p = 1.0 if gap == 0.0 else math.exp(gap)
            work[s] = p
            mass += p
            weighted += p * gap
        else:
            work[s] = 0.0
    if mass == 1.0:  # the best class alone (others, if any, below 1e-16 of it)
        return 0.0
    scale = 1.0 / mass
    for s in range(m):
        work[s] = work[s] * scale
    return math.log(mass) - weighted * scale


@numba.njit(cache=True, nogil=True)
def _walk(
    x: FloatArray, root: np.uint64, depth: np.uint64, walk_node: NDArray[np.uint64], walk_threshold: FloatArray
) -> np.uint64:  # pragma: no cover - compiled
    """The walk node of the leaf one flow reaches (``depth`` steps: a leaf steps onto itself)."""
    node = root
    for _ in range(depth):
        packed = walk_node[node]
        node = (packed >> _CHILD_SHIFT) + (np.uint64(0) if x[packed & _FEATURE_MASK] <= walk_threshold[node]
                                           else np.uint64(1))
    return node


@numba.njit(cache=True, nogil=True)
def _walk_block(
    flat: FloatArray,
    n_features: np.uint64,
    count: int,
    root: np.uint64,
    depth: np.uint64,
    walk_node: NDArray[np.uint64],
    walk_threshold: FloatArray,
    walk_leaf: IntArray,
    nodes: NDArray[np.uint64],
    leaves: IntArray,
) -> None:  # pragma: no cover - compiled
    """The leaves ``count`` flows (rows of ``flat``, ``n_features`` each) reach in one member, in lockstep.

    Every flow takes ``depth`` branch-free steps, so the CPU overlaps the flows' walks.
    """
    for r in range(count):
        nodes[r] = root
    for _ in range(depth):
        for r in range(count):
            node = nodes[r]
            packed = walk_node[node]
            value = flat[np.uint64(r) * n_features + (packed & _FEATURE_MASK)]
            nodes[r] = (packed >> _CHILD_SHIFT) + (np.uint64(0) if value <= walk_threshold[node] else np.uint64(1))
    for r in range(count):
        leaves[r] = walk_leaf[nodes[r]]


@numba.njit(cache=True, nogil=True)
def _largest_magnitude(x: FloatArray) -> float:  # pragma: no cover - compiled
    """``max |x|`` over the values that are not NaN (river's naive Bayes adds nothing for a NaN)."""
    largest = 0.0
    for value in x:
        magnitude = abs(value)
        largest = magnitude if magnitude > largest else largest
    return largest


@numba.njit(cache=True, nogil=True)
def _slow_leaf_vote(
    x: FloatArray,
    leaf: int,
    leaf_index: IntArray,
    entry_index: IntArray,
    entry_prior: FloatArray,
    term_feature: IntArray,
    term_stats: FloatArray,
    square: float,
    work: FloatArray,
    row: FloatArray,
    scratch: FloatArray,
) -> float:  # pragma: no cover - compiled
    """The normalised distribution (into ``row``) and entropy of a naive-Bayes leaf the fast path declined.

    Also a one-class leaf for a flow outside its safe range. River's arithmetic, then
    ``confident_vote``'s; NaN when the member does not vote.
    """
    row[:] = 0.0
    _exact_naive_bayes(x, leaf_index[leaf, 1], leaf_index[leaf, 2], entry_index, entry_prior, term_feature,
                       term_stats, square, work, row)
    return _normalised_entropy(row, scratch)


@numba.njit(cache=True, nogil=True)
def _confident_votes(
    X: FloatArray,
    logs: FloatArray,
    means: FloatArray,
    stds: FloatArray,
    scale: bool,
    entropy_threshold: float,
    min_confident_trees: int,
    walk_root: NDArray[np.uint64],
    walk_depth: NDArray[np.uint64],
    walk_node: NDArray[np.uint64],
    walk_threshold: FloatArray,
    walk_leaf: IntArray,
    leaf_index: IntArray,
    leaf_bound: FloatArray,
    leaf_probability: FloatArray,
    leaf_entropy: FloatArray,
    leaf_votes: NDArray[np.bool_],
    entry_index: IntArray,
    entry_prior: FloatArray,
    entry_constant: FloatArray,
    entry_headroom: FloatArray,
    term_feature: IntArray,
    term_stats: FloatArray,
    term_mean: FloatArray,
    term_weight: FloatArray,
    max_entries: int,
    square: float,
    probabilities: FloatArray,
    confidences: FloatArray,
    trees_used: IntArray,
    best: IntArray,
) -> int:  # pragma: no cover - compiled
    """``arf_ids.core.model.confident_vote`` of every row of ``X`` into the four output arrays.

    With ``scale``, ``X`` is raw and ``logs`` is ``log1p(|X|)``: each row is scaled here as
    ``FeatureScaler.transform`` does (to the bit), and the first row holding a value that is
    not finite is returned (the outputs are then incomplete); otherwise ``X`` is already
    scaled and -1 is returned. Blocks of ``_BLOCK`` rows: scale, walk every member in
    lockstep, add what the leaf tables answer member by member, then the naive-Bayes
    leaves, then vote flow by flow.
    """
    n, n_features = X.shape
    n_members, n_classes = walk_root.shape[0], leaf_probability.shape[1]
    rows = min(_BLOCK, max(n, 1))
    block = np.empty(rows * n_features)
    largest = np.empty(rows)
    leaves = np.empty((max(n_members, 1), rows), dtype=np.int64)
    nodes = np.empty(rows, dtype=np.uint64)
    sums = np.empty((rows, 2 * n_classes))  # per flow: confident members' sum, then the others'
    n_sure = np.empty(rows, dtype=np.int64)
    n_voting = np.empty(rows, dtype=np.int64)
    pending_row = np.empty(rows * max(n_members, 1), dtype=np.int64)
    pending_leaf = np.empty(rows * max(n_members, 1), dtype=np.int64)
    work = np.empty(2 * max(max_entries, 1))
    row = np.empty(n_classes)
    scratch = np.empty(n_classes)
    width = np.uint64(n_features)
    for start in range(0, n, rows):
        count = min(rows, n - start)
        # 1. the block's flows, scaled
        if scale:
            for r in range(count):
                for j in range(n_features):
                    value = X[start + r, j]
                    block[r * n_features + j] = (math.copysign(logs[start + r, j], value) - means[j]) / stds[j]
        else:
            for r in range(count):
                for j in range(n_features):
                    block[r * n_features + j] = X[start + r, j]
        for r in range(count):
            top = 0.0
            nan = False
            for j in range(n_features):
                magnitude = abs(block[r * n_features + j])
                top = magnitude if magnitude > top else top
                nan |= magnitude != magnitude
            if scale and (nan or top == math.inf):
                return start + r
            largest[r] = top
        # 2. every member's leaf for every flow
        for t in range(n_members):
            _walk_block(block, width, count, walk_root[t], walk_depth[t], walk_node, walk_threshold, walk_leaf,
                        nodes, leaves[t])
        # 3. leaves the tables answer, member by member; the others wait
        sums[:count] = 0.0
        n_sure[:count] = 0
        n_voting[:count] = 0
        pending = 0
        for t in range(n_members):
            for r in range(count):
                leaf = leaves[t, r]
                if largest[r] <= leaf_bound[leaf]:
                    if leaf_votes[leaf]:
                        n_voting[r] += 1
                        offset = n_classes
                        if leaf_entropy[leaf] < entropy_threshold:
                            n_sure[r] += 1
                            offset = 0
                        for c in range(n_classes):
                            sums[r, offset + c] += leaf_probability[leaf, c]
                else:
                    pending_row[pending] = r
                    pending_leaf[pending] = leaf
                    pending += 1
        # 4. naive-Bayes leaves (and the rare leaf the exact path answers)
        for q in range(pending):
            r, leaf = pending_row[q], pending_leaf[q]
            if leaf_index[leaf, 0] == _NAIVE_BAYES:
                first, last = leaf_index[leaf, 1], leaf_index[leaf, 2]
                entropy = _fast_naive_bayes(block, r * n_features, first, last, entry_index, entry_constant,
                                            entry_headroom, term_feature, term_mean, term_weight, work)
                if not math.isnan(entropy):
                    n_voting[r] += 1
                    offset = n_classes
                    if entropy < entropy_threshold:
                        n_sure[r] += 1
                        offset = 0
                    for e in range(first, last):
                        sums[r, offset + entry_index[e, 0]] += work[e - first]
                    continue
            x = block[r * n_features : (r + 1) * n_features]
            entropy = _slow_leaf_vote(x, leaf, leaf_index, entry_index, entry_prior, term_feature, term_stats, square,
                                      work, row, scratch)
            if math.isnan(entropy):
                continue
            n_voting[r] += 1
            offset = n_classes
            if entropy < entropy_threshold:
                n_sure[r] += 1
                offset = 0
            for c in range(n_classes):
                sums[r, offset + c] += row[c]
        # 5. the vote
        for r in range(count):
            i = start + r
            others = 0 if n_sure[r] >= min_confident_trees else n_classes  # where the other members' sum is
            trees_used[i] = n_sure[r] if others == 0 else n_voting[r]
            total = 0.0
            for c in range(n_classes):
                value = sums[r, c] + sums[r, others + c] if others else sums[r, c]
                probabilities[i, c] = value
                total += value
            if total > 0:
                for c in range(n_classes):
                    probabilities[i, c] = probabilities[i, c] / total
            top_class = 0
            for c in range(1, n_classes):  # np.argmax: the first maximum (the sums hold no NaN)
                if probabilities[i, c] > probabilities[i, top_class]:
                    top_class = c
            best[i] = top_class
            confidences[i] = probabilities[i, top_class]
    return -1


#: ``_vote_one``'s int array opens with where each float table ends, where each int table ends, then three settings.
_FLOAT_TABLES = 13
_INT_TABLES = 7
_HEADER = _FLOAT_TABLES + _INT_TABLES + 3


@numba.njit(cache=True)
def _vote_one(
    values: tuple[float, ...], floats: FloatArray, ints: IntArray, leaf_votes: NDArray[np.bool_]
) -> tuple[int, int, float, int]:  # pragma: no cover - compiled
    """``_confident_votes`` of one raw flow, a tuple of floats, on the tables :func:`_one_flow_tables` packed.

    Returns the row that is not finite (-1: none; else 0), the best class column, its
    confidence and the trees used. The flow comes as a tuple, copied here, so that the
    caller builds no array (numba compiles one entry per tuple length). Four arguments
    instead of the kernel's thirty-one: for one flow, passing them is a large share of the
    call. ``log1p(|x|)`` is taken here, by the C library's ``log1p``; NumPy's vectorised
    one (the batch path's) differs from it by one unit in the last place in some values.
    It keeps the GIL: it runs on the event loop, and releasing the GIL for a few
    microseconds lets another thread (the log writer's) take it in the middle of a request.
    """
    x = np.empty(len(values))
    for j in range(len(values)):
        x[j] = values[j]
    logs = np.log1p(np.abs(x))
    f, i = ints[:_FLOAT_TABLES], ints[_FLOAT_TABLES : _FLOAT_TABLES + _INT_TABLES]
    n_classes, max_entries, min_confident_trees = ints[_HEADER - 3], ints[_HEADER - 2], ints[_HEADER - 1]
    probabilities = np.empty((1, n_classes))
    confidences = np.empty(1)
    trees_used = np.empty(1, dtype=np.int64)
    best = np.empty(1, dtype=np.int64)
    bad = _confident_votes(
        x.reshape(1, -1), logs.reshape(1, -1), floats[f[9] : f[10]], floats[f[10] : f[11]], True,
        floats[f[11]], min_confident_trees,
        ints[_HEADER : i[0]].view(np.uint64), ints[i[0] : i[1]].view(np.uint64), ints[i[1] : i[2]].view(np.uint64),
        floats[: f[0]], ints[i[2] : i[3]], ints[i[3] : i[4]].reshape((-1, 3)), floats[f[0] : f[1]],
        floats[f[1] : f[2]].reshape((-1, n_classes)), floats[f[2] : f[3]], leaf_votes,
        ints[i[4] : i[5]].reshape((-1, 3)), floats[f[3] : f[4]], floats[f[4] : f[5]], floats[f[5] : f[6]],
        ints[i[5] : i[6]], floats[f[6] : f[7]].reshape((-1, 3)), floats[f[7] : f[8]], floats[f[8] : f[9]],
        max_entries, floats[f[11] + 1], probabilities, confidences, trees_used, best,
    )
    return bad, best[0], confidences[0], trees_used[0]


def _one_flow_tables(
    forest: CompiledForest, means: FloatArray, stds: FloatArray, entropy_threshold: float, min_confident_trees: int
) -> tuple[FloatArray, IntArray, NDArray[np.bool_]]:
    """What ``_vote_one`` reads: every float table and setting in one array, every int table in one, the votes."""
    float_tables = [
        forest.walk_threshold, forest.leaf_bound, forest.leaf_probability, forest.leaf_entropy, forest.entry_prior,
        forest.entry_constant, forest.entry_headroom, forest.term_stats, forest.term_mean, forest.term_weight,
        means, stds, np.array([entropy_threshold, _SQUARE]),
    ]
    int_tables = [
        forest.walk_root.view(np.int64), forest.walk_depth.view(np.int64), forest.walk_node.view(np.int64),
        forest.walk_leaf, forest.leaf_index, forest.entry_index, forest.term_feature,
    ]
    header = [
        *np.cumsum([table.size for table in float_tables]),
        *(_HEADER + np.cumsum([table.size for table in int_tables])),
        forest.leaf_probability.shape[1], forest.max_entries, min_confident_trees,
    ]
    floats = np.concatenate([np.ravel(table).astype(np.float64) for table in float_tables])
    ints = np.concatenate([np.array(header, dtype=np.int64), *(np.ravel(table) for table in int_tables)])
    votes = np.ascontiguousarray(forest.leaf_votes)
    for array in (floats, ints, votes):
        array.setflags(write=False)
    return floats, ints, votes


@numba.njit(cache=True, nogil=True)
def _member_distributions(
    X: FloatArray,
    walk_root: NDArray[np.uint64],
    walk_depth: NDArray[np.uint64],
    walk_node: NDArray[np.uint64],
    walk_threshold: FloatArray,
    walk_leaf: IntArray,
    leaf_index: IntArray,
    leaf_fixed: FloatArray,
    leaf_bound: FloatArray,
    leaf_probability: FloatArray,
    entry_index: IntArray,
    entry_prior: FloatArray,
    entry_constant: FloatArray,
    entry_headroom: FloatArray,
    term_feature: IntArray,
    term_stats: FloatArray,
    term_mean: FloatArray,
    term_weight: FloatArray,
    max_entries: int,
    square: float,
) -> FloatArray:  # pragma: no cover - compiled
    """Every member's distribution of every (scaled) flow: ``(n, n_members, n_classes)``.

    A naive-Bayes leaf answers as the vote kernel's (normalised; river's own rows sum to 1
    within rounding), a fixed leaf with river's row as it is.
    """
    n_classes = leaf_fixed.shape[1]
    out = np.zeros((X.shape[0], walk_root.shape[0], n_classes))
    work = np.empty(2 * max(max_entries, 1))
    for i in range(X.shape[0]):
        x = X[i]
        largest = _largest_magnitude(x)
        for t in range(walk_root.shape[0]):
            leaf = walk_leaf[_walk(x, walk_root[t], walk_depth[t], walk_node, walk_threshold)]
            row = out[i, t]
            kind = leaf_index[leaf, 0]
            if kind == _FIXED:
                row[:] = leaf_fixed[leaf]
                continue
            if largest <= leaf_bound[leaf]:
                row[:] = leaf_probability[leaf]
                continue
            first, last = leaf_index[leaf, 1], leaf_index[leaf, 2]
            if kind == _NAIVE_BAYES and not math.isnan(
                _fast_naive_bayes(x, 0, first, last, entry_index, entry_constant, entry_headroom, term_feature,
                                  term_mean, term_weight, work)
            ):
                for e in range(first, last):
                    row[entry_index[e, 0]] = work[e - first]
                continue
            _exact_naive_bayes(x, first, last, entry_index, entry_prior, term_feature, term_stats, square, work, row)
    return out


# ------------------------------------------------------------------------------ building


def _magnitude_limit(n_terms: int) -> float:
    """The largest log-likelihood magnitude whose fast sum of ``n_terms`` terms stays within ``_LOG_AGREEMENT``."""
    return _LOG_AGREEMENT / (2.0 * (n_terms + 4) * 2.0**-53)


class _Builder:
    """Accumulates the flat tables of every member while walking river's trees."""

    def __init__(self, features: Sequence[str], classes: Sequence[Hashable]) -> None:
        self.feature_at = {name: i for i, name in enumerate(features)}
        self.class_at = {key: i for i, key in enumerate(classes)}
        self.n_classes = len(classes)
        self.nodes: list[list[int]] = []  # feature, left, right (= left + 1), leaf
        self.thresholds: list[float] = []
        self.leaves: list[list[int]] = []  # kind, first entry, end of entries
        self.fixed: list[list[float]] = []
        self.safe: list[float] = []
        self.entries: list[list[int]] = []  # class column, first term, end of terms
        self.priors: list[float] = []
        self.constants: list[float] = []  # prior - sum(0.5 log(tau) + 0.5 log(variance))
        self.headrooms: list[float] = []  # magnitude limit - |prior| - sum |0.5 log(tau) + 0.5 log(variance)|
        self.term_features: list[int] = []
        self.term_stats: list[tuple[float, float, float]] = []  # mu, -2 variance, 0.5 log(variance)

    def member(self, tree: object) -> tuple[int, int]:
        """Flatten one member; returns its root node (-1 for no tree yet) and its depth."""
        if not isinstance(tree, HoeffdingTreeClassifier) or (
            type(tree).predict_proba_one is not HoeffdingTreeClassifier.predict_proba_one
        ):
            raise UnsupportedModelError(f"member {type(tree).__name__} is not a river Hoeffding tree classifier")
        root = tree._root
        if root is None:
            return -1, 0
        if not isinstance(root, DTBranch | HTLeaf):
            raise UnsupportedModelError(f"tree root {type(root).__name__} is neither a branch nor a leaf")
        return self.node(root, tree)

    def node(self, node: object, tree: HoeffdingTreeClassifier) -> tuple[int, int]:
        """Flatten the subtree at ``node`` (iteratively: deep trees stay off the call stack).

        A branch's two children take adjacent slots (right = left + 1). Returns the subtree's
        root slot and its depth (branches on the longest path).
        """
        top = len(self.nodes)
        self.nodes.append([-1, -1, -1, -1])
        self.thresholds.append(math.nan)
        pending: list[tuple[object, int, int]] = [(node, top, 0)]  # node, its slot, its depth
        depth = 0
        while pending:
            current, index, level = pending.pop()
            current = self.resolve(current)
            if isinstance(current, NumericBinaryBranch):
                left = len(self.nodes)
                self.nodes += [[-1, -1, -1, -1], [-1, -1, -1, -1]]
                self.thresholds += [math.nan, math.nan]
                self.nodes[index] = [self.feature_at[current.feature], left, left + 1, -1]
                self.thresholds[index] = float(current.threshold)
                left_child, right_child = current.children
                pending.append((right_child, left + 1, level + 1))
                pending.append((left_child, left, level + 1))
            else:
                self.nodes[index] = [-1, -1, -1, self.leaf(current, tree)]
                depth = max(depth, level)
        return top, depth

    def resolve(self, node: object) -> object:
        """The node river reaches from ``node``: a branch on a feature flows lack takes its most common path."""
        while isinstance(node, DTBranch):
            if type(node).branch_no is not NumericBinaryBranch.branch_no or not isinstance(node, NumericBinaryBranch):
                raise UnsupportedModelError(
                    f"{type(node).__name__} on {getattr(node, 'feature', '?')!r}: only numeric binary branches "
                    "(x <= threshold) are compiled; nominal and multi-way branches are not"
                )
            if node.feature in self.feature_at:
                return node
            _, node = node.most_common_path()
        if not isinstance(node, HTLeaf):
            raise UnsupportedModelError(f"tree node {type(node).__name__} is neither a branch nor a leaf")
        return node

    def column(self, key: Hashable) -> int:
        try:
            return self.class_at[key]
        except (KeyError, TypeError):
            raise UnsupportedModelError(f"a leaf predicts class {key!r}, which is not among the compiled classes") \
                from None

    def leaf(self, leaf: HTLeaf, tree: HoeffdingTreeClassifier) -> int:
        predict = type(leaf).prediction
        if predict is LeafMajorityClass.prediction:
            naive_bayes = False
        elif predict is LeafNaiveBayes.prediction:
            naive_bayes = leaf.is_active() and leaf.total_weight >= tree.nb_threshold
        elif predict is LeafNaiveBayesAdaptive.prediction:
            naive_bayes = leaf.is_active() and leaf._nb_correct_weight >= leaf._mc_correct_weight
        else:
            raise UnsupportedModelError(f"leaf {type(leaf).__name__} predicts in a way that is not compiled")
        if not isinstance(leaf.stats, dict):
            raise UnsupportedModelError(f"leaf {type(leaf).__name__} keeps class statistics as {type(leaf.stats)}")
        fixed = [0.0] * self.n_classes
        first = len(self.entries)
        stats = leaf.stats
        total_weight = sum(stats.values())
        if not naive_bayes:
            for key, value in LeafMajorityClass.prediction(leaf, {}, tree=tree).items():
                fixed[self.column(key)] = float(value)
            kind, safe = _FIXED, math.nan
        elif not stats or total_weight == 0:
            kind, safe = _FIXED, math.nan  # do_naive_bayes_prediction returns {}
        else:
            safe = self.naive_bayes(stats, total_weight, leaf.splitters or {})
            one_class = len(stats) == 1 and next(iter(stats.values())) > 0
            kind = _NAIVE_BAYES_ONE_CLASS if one_class else _NAIVE_BAYES
        return self.add_leaf(kind, first, fixed, safe)

    def add_leaf(self, kind: int, first: int, fixed: list[float], safe: float) -> int:
        self.leaves.append([kind, first, len(self.entries)])
        self.fixed.append(fixed)
        self.safe.append(safe)
        return len(self.leaves) - 1

    def naive_bayes(self, stats: dict[Hashable, float], total_weight: float, splitters: dict[Hashable, Any]) -> float:
        """Entries and terms of ``do_naive_bayes_prediction``; returns the leaf's safe ``max |x|``."""
        estimators: list[tuple[int, GaussianSplitter]] = []
        for feature, splitter in splitters.items():
            if feature not in self.feature_at:
                continue  # river skips a splitter whose feature is not in x
            if type(splitter).cond_log_proba is not GaussianSplitter.cond_log_proba:
                raise UnsupportedModelError(
                    f"splitter {type(splitter).__name__} of feature {feature!r}: only river's GaussianSplitter "
                    "is compiled"
                )
            estimators.append((self.feature_at[feature], splitter))
        safe = math.inf
        for key, weight in stats.items():
            first_term = len(self.term_features)
            if weight > 0:
                prior = math.log(weight / total_weight)
                constant, magnitude = prior, abs(prior)
                for column, splitter in estimators:
                    gaussian = splitter._att_dist_per_class.get(key)
                    if gaussian is None:
                        continue  # cond_log_proba is -inf: nothing added
                    if type(gaussian).log_pdf is not proba.Gaussian.log_pdf:
                        raise UnsupportedModelError(f"estimator {type(gaussian).__name__} is not river's Gaussian")
                    var = gaussian._var
                    n = var.mean.n
                    if n > var.ddof:
                        variance = var._S / (n - var.ddof)
                        if variance > 0.0:
                            mu = var.mean._mean
                            half_log_variance = 0.5 * math.log(variance)
                            self.term_features.append(column)
                            self.term_stats.append((float(mu), -2.0 * variance, half_log_variance))
                            constant -= _HALF_LOG_TAU + half_log_variance
                            magnitude += abs(_HALF_LOG_TAU + half_log_variance)
                            safe = min(safe, math.sqrt(variance) * _SAFE_SIGMAS - abs(mu))
            else:
                prior = constant = magnitude = 0.0  # river: a class without weight votes 0.0 and nothing else
            self.priors.append(prior)
            self.constants.append(constant)
            self.headrooms.append(_magnitude_limit(len(self.term_features) - first_term) - magnitude)
            self.entries.append([self.column(key), first_term, len(self.term_features)])
        return safe


def _walk_tables(
    node_index: IntArray, node_threshold: FloatArray, roots: list[int], depths: list[int], no_tree_leaf: int
) -> dict[str, NDArray[Any]]:
    """The kernels' layout of the nodes: node ``k`` in slot ``k + 1``; slot 0 is the root of every empty member.

    ``walk_node`` packs ``left child slot << 16 | feature``; a leaf's threshold is NaN, so a
    step always adds 1, and its "child" is the slot before it: it steps onto itself. Slot 0
    is a leaf (the no-tree row of the leaf tables) that no walk steps from (depth 0).
    """
    n_nodes = node_index.shape[0]
    branch = node_index[:, 3] < 0
    slots = np.arange(1, n_nodes + 1, dtype=np.int64)
    child = np.zeros(n_nodes + 1, dtype=np.uint64)
    child[1:] = np.where(branch, node_index[:, 1] + 1, slots - 1)
    feature = np.zeros(n_nodes + 1, dtype=np.uint64)
    feature[1:] = np.where(branch, node_index[:, 0], 0)
    threshold = np.full(n_nodes + 1, np.nan)
    threshold[1:] = node_threshold
    leaf = np.full(n_nodes + 1, no_tree_leaf, dtype=np.int64)
    leaf[1:] = np.where(branch, no_tree_leaf, node_index[:, 3])
    return {
        "walk_root": np.array([root + 1 if root >= 0 else 0 for root in roots], dtype=np.uint64).reshape(len(roots)),
        "walk_depth": np.array(depths, dtype=np.uint64).reshape(len(roots)),
        "walk_node": (child << _CHILD_SHIFT) | feature,
        "walk_threshold": threshold,
        "walk_leaf": leaf,
    }


def _leaf_tables(leaf_index: IntArray, leaf_fixed: FloatArray, leaf_safe: FloatArray,
                 entry_index: IntArray) -> dict[str, NDArray[Any]]:
    """What the vote reads for a leaf without computing: normalised row, entropy, whether it votes, when to trust it.

    Fixed rows are normalised and their entropies computed by ``confident_vote``'s own NumPy
    expressions. A one-class leaf's row is 1.0 at its class up to ``max |x| <= leaf_safe``;
    a naive-Bayes leaf is never answered from the table (bound ``-inf``).
    """
    kind = leaf_index[:, 0]
    totals = leaf_fixed.sum(axis=1)
    votes = (kind != _FIXED) | (totals > 0)
    probability = np.zeros_like(leaf_fixed)
    fixed_votes = (kind == _FIXED) & votes
    probability[fixed_votes] = leaf_fixed[fixed_votes] / totals[fixed_votes, np.newaxis]
    logs = np.log(np.where(probability > 0, probability, 1.0))
    entropy = -(probability * logs).sum(axis=1)
    one_class = np.nonzero(kind == _NAIVE_BAYES_ONE_CLASS)[0]
    probability[one_class, entry_index[leaf_index[one_class, 1], 0]] = 1.0
    entropy[kind != _FIXED] = 0.0
    bound = np.where(kind == _FIXED, math.inf, np.where(kind == _NAIVE_BAYES_ONE_CLASS, leaf_safe, -math.inf))
    return {"leaf_bound": bound, "leaf_probability": probability, "leaf_entropy": entropy, "leaf_votes": votes}


# -------------------------------------------------------------------------------- forest


@dataclass(frozen=True, eq=False, repr=False)
class CompiledForest:
    """Every member of a river ARF flattened into read-only arrays.

    River's structure: nodes (``node_index`` columns: feature, left child, right child
    (``= left + 1``), leaf; a branch has leaf ``-1``, a leaf has feature ``-1``), leaves
    (``leaf_index``: kind, first and end entry; ``leaf_fixed``: the distribution of a leaf
    whose answer does not depend on the flow; ``leaf_safe``; the last leaf row stands for
    a member with no tree yet and is no node's leaf), naive-Bayes entries in river's class
    order (``entry_index``: class column, first and end term; ``entry_prior``:
    ``log(weight / total)``, or 0.0 for a class without weight) and terms in river's
    feature order (``term_stats``: mean, ``-2 variance``, ``0.5 log(variance)``).
    ``tree_root[m]`` is member ``m``'s root node, ``-1`` for a member with no tree yet.

    What the kernels read besides: ``walk_*`` (the nodes as the walk steps through them,
    see :func:`_walk_tables`; ``walk_depth`` is each member's depth), ``leaf_bound``,
    ``leaf_probability``, ``leaf_entropy``, ``leaf_votes`` (see :func:`_leaf_tables`),
    ``entry_constant`` (``log prior - sum 0.5 log(2 pi variance)``), ``entry_headroom``
    and ``term_mean``, ``term_weight`` (``-1 / (2 variance)``).
    """

    features: tuple[str, ...]
    classes: tuple[Hashable, ...]
    tree_root: IntArray
    node_index: IntArray
    node_threshold: FloatArray
    leaf_index: IntArray
    leaf_fixed: FloatArray
    leaf_safe: FloatArray
    entry_index: IntArray
    entry_prior: FloatArray
    term_feature: IntArray
    term_stats: FloatArray
    max_entries: int
    walk_root: NDArray[np.uint64]
    walk_depth: NDArray[np.uint64]
    walk_node: NDArray[np.uint64]
    walk_threshold: FloatArray
    walk_leaf: IntArray
    leaf_bound: FloatArray
    leaf_probability: FloatArray
    leaf_entropy: FloatArray
    leaf_votes: NDArray[np.bool_]
    entry_constant: FloatArray
    entry_headroom: FloatArray
    term_mean: FloatArray
    term_weight: FloatArray

    @classmethod
    def from_river(
        cls, arf: forest.ARFClassifier, *, features: Sequence[str], classes: Iterable[Hashable]
    ) -> CompiledForest:
        """Compile ``arf``'s members; ``features`` name the input columns, ``classes`` the output ones.

        Raises :class:`UnsupportedModelError` for anything river would predict differently
        from the compiled form (see the module docstring).
        """
        if river.__version__ != RIVER_VERSION:
            raise UnsupportedModelError(
                f"the compiled form reproduces river {RIVER_VERSION}, but river {river.__version__} is installed"
            )
        if not isinstance(arf, forest.ARFClassifier):
            raise UnsupportedModelError(f"{type(arf).__name__} is not a river ARFClassifier")
        features, classes = tuple(features), tuple(classes)
        if len(set(features)) != len(features) or len(set(classes)) != len(classes):
            raise ValueError("features and classes must not repeat")
        if len(features) > int(_FEATURE_MASK) + 1:
            raise UnsupportedModelError(f"{len(features)} features: at most {int(_FEATURE_MASK) + 1} are compiled")
        builder = _Builder(features, classes)
        members = [builder.member(tree) for tree in arf]
        roots, depths = [root for root, _ in members], [depth for _, depth in members]
        no_tree_leaf = builder.add_leaf(_FIXED, len(builder.entries), [0.0] * len(classes), math.nan)
        node_index = np.array(builder.nodes, dtype=np.int64).reshape(-1, 4)
        node_threshold = np.array(builder.thresholds, dtype=np.float64)
        leaf_index = np.array(builder.leaves, dtype=np.int64).reshape(-1, 3)
        leaf_fixed = np.array(builder.fixed, dtype=np.float64).reshape(-1, len(classes))
        leaf_safe = np.array(builder.safe, dtype=np.float64)
        entry_index = np.array(builder.entries, dtype=np.int64).reshape(-1, 3)
        term_stats = np.array(builder.term_stats, dtype=np.float64).reshape(-1, 3)
        tables = {
            "tree_root": np.array(roots, dtype=np.int64),
            "node_index": node_index,
            "node_threshold": node_threshold,
            "leaf_index": leaf_index,
            "leaf_fixed": leaf_fixed,
            "leaf_safe": leaf_safe,
            "entry_index": entry_index,
            "entry_prior": np.array(builder.priors, dtype=np.float64),
            "term_feature": np.array(builder.term_features, dtype=np.int64),
            "term_stats": term_stats,
            **_walk_tables(node_index, node_threshold, roots, depths, no_tree_leaf),
            **_leaf_tables(leaf_index, leaf_fixed, leaf_safe, entry_index),
            "entry_constant": np.array(builder.constants, dtype=np.float64),
            "entry_headroom": np.array(builder.headrooms, dtype=np.float64),
            "term_mean": term_stats[:, 0].copy(),
            "term_weight": 1.0 / term_stats[:, 1],
        }
        for array in tables.values():
            array.setflags(write=False)
        return cls(
            features=features,
            classes=classes,
            max_entries=max((end - first for _, first, end in builder.leaves), default=0),
            **tables,
        )

    @property
    def n_members(self) -> int:
        return int(self.tree_root.shape[0])

    @property
    def n_nodes(self) -> int:
        return int(self.node_index.shape[0])

    @property
    def n_leaves(self) -> int:
        """Leaves of the members (the no-tree row of the leaf tables is not one)."""
        return int(self.leaf_index.shape[0]) - 1

    def __repr__(self) -> str:
        return (
            f"CompiledForest(members={self.n_members}, nodes={self.n_nodes}, leaves={self.n_leaves}, "
            f"features={len(self.features)}, classes={len(self.classes)})"
        )

    def _walk(self) -> tuple[Any, ...]:
        return self.walk_root, self.walk_depth, self.walk_node, self.walk_threshold, self.walk_leaf

    @functools.cached_property
    def _vote_tables(self) -> tuple[Any, ...]:
        """The vote kernel's model arguments, gathered once per model (``vote_into`` passes them on every call)."""
        return (
            *self._walk(), self.leaf_index, self.leaf_bound, self.leaf_probability, self.leaf_entropy,
            self.leaf_votes, *self._naive_bayes(), self.max_entries, _SQUARE,
        )

    def _naive_bayes(self) -> tuple[Any, ...]:
        return (
            self.entry_index, self.entry_prior, self.entry_constant, self.entry_headroom, self.term_feature,
            self.term_stats, self.term_mean, self.term_weight,
        )

    def _input(self, X: np.ndarray) -> FloatArray:
        matrix = np.ascontiguousarray(X, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != len(self.features):
            raise ValueError(f"needs an (n, {len(self.features)}) matrix of scaled features, got {matrix.shape}")
        return matrix

    def member_distributions(self, X: np.ndarray) -> FloatArray:
        """Each member's ``predict_proba_one`` of each row of scaled ``X``: ``(n, n_members, n_classes)``.

        Column ``c`` is ``classes[c]``; a class the member does not predict is 0.
        """
        return _member_distributions(
            self._input(X), *self._walk(), self.leaf_index, self.leaf_fixed, self.leaf_bound, self.leaf_probability,
            *self._naive_bayes(), self.max_entries, _SQUARE,
        )

    def vote_into(
        self,
        X: FloatArray,
        logs: FloatArray | None,
        scaler: tuple[FloatArray, FloatArray] | None,
        entropy_threshold: float,
        min_confident_trees: int,
        out: tuple[FloatArray, FloatArray, IntArray, IntArray],
    ) -> int:
        """Run the vote kernel on C-contiguous ``X`` into ``out`` (probabilities, confidences, trees used, best).

        With ``scaler`` (means, stds) and ``logs = log1p(|X|)``, ``X`` is raw and the first
        row holding a value that is not finite is returned; otherwise -1.
        """
        if scaler is None:
            logs, (means, stds), scale = X, _NO_SCALING, False
        else:
            (means, stds), scale = scaler, True
        return int(_confident_votes(
            X, logs, means, stds, scale, float(entropy_threshold), int(min_confident_trees), *self._vote_tables, *out,
        ))

    def confident_vote(
        self, X: np.ndarray, *, entropy_threshold: float, min_confident_trees: int
    ) -> tuple[FloatArray, IntArray, IntArray]:
        """``confident_vote`` of each row of scaled ``X``: probabilities, trees used, most probable column."""
        matrix = self._input(X)
        out = _outputs(matrix.shape[0], len(self.classes))
        self.vote_into(matrix, None, None, entropy_threshold, min_confident_trees, out)
        return out[0], out[2], out[3]


#: The vote kernel's scaler arguments when its input is already scaled (read-only, as a scaler's are).
_NO_SCALING = (np.empty(0), np.empty(0))
for _array in _NO_SCALING:
    _array.setflags(write=False)


def _outputs(n: int, n_classes: int) -> tuple[FloatArray, FloatArray, IntArray, IntArray]:
    return np.empty((n, n_classes)), np.empty(n), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)


def _row_chunks(n: int, workers: int) -> list[tuple[int, int]]:
    """Contiguous row ranges, one per thread: at most ``workers``, each of at least ``_ROWS_PER_WORKER`` rows."""
    parts = max(1, min(int(workers), n // _ROWS_PER_WORKER))
    edges = [n * k // parts for k in range(parts + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


# --------------------------------------------------------------------------------- model


@dataclass(frozen=True, eq=False, repr=False)
class CompiledModel:
    """A bundle's compiled snapshot: frozen scaler, labels, schema, vote thresholds and forest.

    ``predict_one`` and ``predict_matrix`` take the inputs, raise the errors and return
    the answers of ``ModelBundle.predict_one`` and ``ModelBundle.predict_matrix`` (the
    probabilities to within :data:`AGREEMENT`).
    """

    forest: CompiledForest
    scaler: FeatureScaler
    labels: LabelEncoder
    schema: FlowSchema
    entropy_threshold: float
    min_confident_trees: int
    _scaling: tuple[FloatArray, FloatArray] = field(init=False, repr=False)
    _names: NDArray[np.str_] = field(init=False, repr=False)
    _one_flow: tuple[FloatArray, IntArray, NDArray[np.bool_]] = field(init=False, repr=False)
    _one_shape: tuple[int] = field(init=False, repr=False)  # one flow's vector shape

    def __post_init__(self) -> None:
        means, stds = np.array(self.scaler.means, dtype=np.float64), np.array(self.scaler.stds, dtype=np.float64)
        names = np.asarray(self.labels.classes, dtype=str)
        for array in (means, stds, names):
            array.setflags(write=False)
        object.__setattr__(self, "_scaling", (means, stds))
        object.__setattr__(self, "_names", names)
        object.__setattr__(self, "_one_flow", _one_flow_tables(
            self.forest, means, stds, self.entropy_threshold, self.min_confident_trees))
        object.__setattr__(self, "_one_shape", (len(self.schema),))

    @classmethod
    def from_bundle(cls, bundle: ModelBundle) -> CompiledModel:
        """Compile ``bundle`` as it is now (it may keep learning; this snapshot does not change)."""
        return cls(
            forest=CompiledForest.from_river(
                bundle.arf, features=bundle.schema.features, classes=range(len(bundle.classes))
            ),
            scaler=bundle.scaler,
            labels=bundle.labels,
            schema=bundle.schema,
            entropy_threshold=bundle.config.confident_entropy_nats,
            min_confident_trees=bundle.config.min_confident_trees,
        )

    @property
    def classes(self) -> tuple[str, ...]:
        return self.labels.classes

    def __repr__(self) -> str:
        return f"CompiledModel({self.forest!r}, classes={self.classes})"

    def _score(self, matrix: FloatArray, out: tuple[FloatArray, FloatArray, IntArray, IntArray]) -> int:
        """Vote on raw, C-contiguous ``matrix`` rows into ``out``; the first non-finite row, or -1.

        NumPy's vectorised ``log1p(|x|)`` is taken ``_SCALE_ROWS`` rows at a time into one
        buffer that stays in cache for the kernel.
        """
        n = matrix.shape[0]
        if n <= _SCALE_ROWS:
            logs = np.abs(matrix)
            np.log1p(logs, out=logs)
            return self.forest.vote_into(matrix, logs, self._scaling, self.entropy_threshold,
                                         self.min_confident_trees, out)
        logs = np.empty((_SCALE_ROWS, matrix.shape[1]))
        for start in range(0, n, _SCALE_ROWS):
            stop = min(n, start + _SCALE_ROWS)
            part, part_logs = matrix[start:stop], logs[: stop - start]
            np.abs(part, out=part_logs)
            np.log1p(part_logs, out=part_logs)
            bad = self.forest.vote_into(part, part_logs, self._scaling, self.entropy_threshold,
                                        self.min_confident_trees, tuple(a[start:stop] for a in out))
            if bad >= 0:
                return start + bad
        return -1

    def _matrix(self, X: np.ndarray) -> FloatArray:
        """``X`` as a C-contiguous float64 ``(n, n_features)`` matrix (finiteness is checked while scoring)."""
        if isinstance(X, np.ndarray) and X.dtype == np.float64 and X.ndim == 2 and X.shape[1] == len(self.schema):
            return np.ascontiguousarray(X)
        return np.ascontiguousarray(validated_matrix(X, self.schema))

    def _one_row(self, vector: FloatArray) -> FloatArray:
        """``vector`` C-contiguous, if it is one flow's float64 vector in schema order (finiteness is the kernel's)."""
        if vector.shape != self._one_shape or vector.dtype != np.float64:
            raise InvalidFlowError(None, f"expected a float64 vector of {len(self.schema)} values, not {vector.shape}")
        return vector if vector.flags.c_contiguous else np.ascontiguousarray(vector)

    def predict_one(self, flow: Flow) -> Prediction:
        """Confident vote on one flow (feature mapping or values in schema order)."""
        return self.predict_vector(self.schema.vector(flow))

    def predict_vector(self, vector: FloatArray) -> Prediction:
        """Confident vote on one flow already in the schema's order, as ``FlowSchema.vector`` gives it.

        Only the shape and type are checked here; a value that is not finite is found by the
        kernel and raises :class:`~arf_ids.core.errors.InvalidFlowError` naming its feature.
        """
        matrix = self._one_row(vector).reshape(1, -1)
        out = _outputs(1, len(self._names))
        if self._score(matrix, out) >= 0:
            validated_matrix(matrix, self.schema)  # raises, naming the value that is not finite
        probabilities, confidences, trees_used, best = out
        classes = self.classes
        return Prediction(
            label=classes[int(best[0])],
            confidence=float(confidences[0]),
            trees_used=int(trees_used[0]),
            probabilities=dict(zip(classes, probabilities[0].tolist(), strict=True)),
        )

    def vote_one(self, values: tuple[float, ...]) -> tuple[int, float, int]:
        """One flow's class index (in ``classes``), confidence and trees used: ``predict_matrix``'s answer.

        The service's per-request path. ``values`` is a tuple of the flow's floats in the
        schema's order, as :meth:`FlowSchema.checked_values` gives it: no array is built in
        Python. A tuple of the wrong length, or of values that are not floats, is refused;
        a value that is not finite raises :class:`~arf_ids.core.errors.InvalidFlowError`
        naming its feature. Its ``log1p`` is the C library's, not NumPy's vectorised one
        (:func:`_vote_one`): the class and the trees used are ``predict_matrix``'s and the
        confidence is within :data:`AGREEMENT` of it (the tests check every flow of every
        compiled test model; a flow whose scaled value fell on a split threshold within
        one unit in the last place could differ).
        """
        if len(values) != self._one_shape[0]:
            raise InvalidFlowError(None, f"expected {self._one_shape[0]} values, not {len(values)}")
        try:
            bad, best, confidence, trees_used = _vote_one(values, *self._one_flow)
        except TypingError:
            raise InvalidFlowError(None, "expected a tuple of floats") from None
        if bad >= 0:
            validated_matrix(np.array([values]), self.schema)  # raises, naming the value that is not finite
        return best, confidence, trees_used

    def predict_matrix(self, X: np.ndarray, *, workers: int = 1) -> PredictionBatch:
        """Confident vote on each row of a raw ``(n, n_features)`` matrix in schema order.

        ``workers > 1`` splits a large batch (at least ``_ROWS_PER_WORKER`` rows per
        thread) into contiguous row chunks scored in that many threads; the answers are the
        same, to the bit, whatever ``workers`` is.
        """
        matrix = self._matrix(X)
        n = matrix.shape[0]
        out = _outputs(n, len(self._names))
        chunks = _row_chunks(n, workers)
        if len(chunks) == 1:
            bad = [self._score(matrix, out)]
        else:
            with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
                bad = list(pool.map(
                    lambda chunk: self._score(matrix[chunk[0] : chunk[1]], tuple(a[chunk[0] : chunk[1]] for a in out)),
                    chunks,
                ))
        if max(bad) >= 0:
            validated_matrix(matrix, self.schema)  # raises, naming the first value that is not finite
            raise AssertionError("a row the kernel refused passed validation")  # pragma: no cover
        probabilities, confidences, trees_used, best = out
        return PredictionBatch(
            labels=self._names.take(best),  # LabelEncoder.decode without its range check
            confidences=confidences,
            trees_used=trees_used,
            probabilities=probabilities,
            classes=self.classes,
        )

    def predict_labels(self, X: np.ndarray) -> np.ndarray:
        """Just the labels of ``predict_matrix``."""
        return self.predict_matrix(X).labels

    def warm_up(self) -> None:
        """Compile the kernels now (or load them from numba's cache), so no request pays for it."""
        self.predict_matrix(np.zeros((1, len(self.schema))))
        self.vote_one((0.0,) * len(self.schema))


__all__ = ["AGREEMENT", "RIVER_VERSION", "CompiledForest", "CompiledModel", "UnsupportedModelError"]
