"""The ENAS-style controller of AutoCaption's search: an LSTM policy that emits an AutoRNN cell.

For node 0 the controller emits its operation; for each later node i, first the node it reads
(node 1 can only read node 0, so that is no decision)
(attention over the controller's outputs at the earlier nodes, as ENAS's recurrent-cell
controller: `v^T tanh(h_j W_1 + h_i W_2)`, minus ENAS's distance prior `(i - j)^2 / 6`), then
its operation (a softmax over `RNN_OPS`). Logits are divided by a temperature and squashed by
`c * tanh`, as ENAS does. The chosen node's output (scaled by `1 / (0.1 + i - j)`) or the
chosen operation's embedding is the next input.

`sample(rng)` draws a cell (eager, no tape); `log_prob_and_entropy(genotype)` re-reads a
cell's decisions and returns the differentiable sum of their log-probabilities and the sum of
the decisions' entropies, which REINFORCE needs.

Defaults are ENAS's for its recurrent-cell search on Penn Treebank (`scripts/ptb_search.sh` of
the authors' code): LSTM size 100, temperature 5.0, tanh constant 2.5. AutoCaption uses an
ENAS-style controller and does not list other values that could be read offline.

References:
    - Zhu et al., AutoCaption: Image Captioning with Neural Architecture Search, arXiv 2012.09742.
    - Pham et al., Efficient Neural Architecture Search via Parameter Sharing, arXiv 1802.03268.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from tfnas.captioning.autornn import RNN_OPS, RNNCellGenotype


class CellController(keras.Model):
    """LSTM policy over AutoRNN cells of `num_nodes` nodes (see the module doc).

    Args:
        num_nodes: Nodes of the emitted cells.
        lstm_size: Controller LSTM size.
        temperature: Logits divided by it (None: not).
        tanh_constant: Logits squashed to `c * tanh(logits / c')` (None: not).
        **kwargs: Passed to `keras.Model`.
    """

    def __init__(self, num_nodes: int, lstm_size: int = 100, temperature: float | None = 5.0,
                 tanh_constant: float | None = 2.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 1:
            raise ValueError(f"num_nodes must be a positive integer. Received: num_nodes={num_nodes!r}")
        self.num_nodes = num_nodes
        self.lstm_size = lstm_size
        self.temperature = temperature
        self.tanh_constant = tanh_constant
        self.lstm = keras.layers.LSTMCell(lstm_size, name="lstm")
        self.start = self.add_weight(name="start", shape=(1, lstm_size), initializer="random_uniform")
        self.op_embedding = self.add_weight(name="op_embedding", shape=(len(RNN_OPS), lstm_size),
                                            initializer="random_uniform")
        self.op_logits = keras.layers.Dense(len(RNN_OPS), use_bias=False, name="op_logits")
        self.attn_1 = keras.layers.Dense(lstm_size, use_bias=False, name="attn_1")
        self.attn_2 = keras.layers.Dense(lstm_size, use_bias=False, name="attn_2")
        self.attn_v = keras.layers.Dense(1, use_bias=False, name="attn_v")
        self.decide(None)  # builds every variable

    def _squash(self, logits):
        if self.temperature is not None:
            logits = logits / self.temperature
        if self.tanh_constant is not None:
            logits = self.tanh_constant * keras.ops.tanh(logits)
        return logits

    def decide(self, genotype: RNNCellGenotype | None, rng: np.random.Generator | None = None):
        """Walks the decisions: given ones (`genotype`) or drawn ones (`rng`).

        Returns:
            `(genotype, sum of log-probabilities, sum of entropies)`; with `genotype=None` and
            no `rng`, the argmax cell (used to build the variables).
        """
        state = [keras.ops.zeros((1, self.lstm_size)), keras.ops.zeros((1, self.lstm_size))]
        x = self.start
        outputs, keys = [], []
        ops, inputs = [], []
        log_prob = keras.ops.zeros(())
        entropy = keras.ops.zeros(())

        def choose(logits, given):
            nonlocal log_prob, entropy
            logp = keras.ops.log_softmax(logits, axis=-1)[0]
            if given is not None:
                pick = int(given)
            elif rng is not None:
                p = np.asarray(keras.ops.exp(logp), dtype="float64")
                pick = int(rng.choice(len(p), p=p / p.sum()))
            else:
                pick = int(np.argmax(np.asarray(logp)))
            log_prob = log_prob + logp[pick]
            entropy = entropy - keras.ops.sum(keras.ops.exp(logp) * logp)
            return pick

        for i in range(self.num_nodes):
            if i == 1:  # node 1 can only read node 0: no decision
                inputs.append(0)
                x = outputs[0] / 1.1
            elif i > 1:
                h, state = self.lstm(x, state)
                query = self.attn_2(h)
                scores = self.attn_v(keras.ops.tanh(keras.ops.concatenate(keys, axis=0) + query))[:, 0]
                logits = self._squash(scores[None, :])
                prior = np.array([(i - j) ** 2 / 6.0 for j in range(i)], dtype="float32")
                j = choose(logits - prior[None, :], None if genotype is None else genotype.inputs[i])
                inputs.append(j)
                x = outputs[j] / (0.1 + float(i - j))
            h, state = self.lstm(x, state)
            outputs.append(h)
            keys.append(self.attn_1(h))
            op = choose(self._squash(self.op_logits(h)), None if genotype is None else RNN_OPS.index(genotype.ops[i]))
            ops.append(RNN_OPS[op])
            x = self.op_embedding[op:op + 1]
        return RNNCellGenotype(tuple(ops), (-1, *inputs)), log_prob, entropy

    def sample(self, rng: np.random.Generator) -> RNNCellGenotype:
        """A cell drawn from the policy."""
        return self.decide(None, rng)[0]

    def log_prob_and_entropy(self, genotype: RNNCellGenotype | str):
        """Differentiable `(sum log p(decisions), sum of the decisions' entropies)` of a cell."""
        if isinstance(genotype, str):
            genotype = RNNCellGenotype.from_string(genotype)
        if genotype.num_nodes != self.num_nodes:
            raise ValueError(f"the controller emits {self.num_nodes}-node cells; {genotype.to_string()!r} has "
                             f"{genotype.num_nodes}.")
        _, log_prob, entropy = self.decide(genotype)
        return log_prob, entropy
