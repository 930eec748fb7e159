using System.Text;
using SentenceVae.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Evaluation;

/// <summary>
/// Likelihood of whole documents under a token-level LM. Each document is scored as BOS + tokens + EOS:
/// every token after BOS is predicted (EOS marks the end, so every byte of the text is accounted for).
/// Documents longer than the model's context (the tokens it was trained on, <see cref="OptConfig.Context"/>,
/// unless a context is given) are scored in overlapping windows (stride half a window), each token once,
/// with as much left context as fits. A token limit stops after the
/// whole pieces that hold about that many text tokens, inside a document if need be.
/// </summary>
public static class LmEvaluator
{
    /// <summary>Bits per byte and per-token loss of <paramref name="documents"/> under a token model (sliding windows of <paramref name="context"/> tokens when positive, else the trained context; at most <paramref name="tokenLimit"/> tokens when positive).</summary>
    public static EvalResult Evaluate(OptForCausalLm model, ITextTokenizer tokenizer, IEnumerable<string> documents, long tokenLimit = 0, int context = 0)
    {
        int window = Window(model.Config, context), stride = window / 2;
        var device = Devices.DeviceOf(model);
        double nll = 0;
        long tokens = 0, bytes = 0;
        using (new EvaluationMode(model))
        {
            long textTokens = 0;
            foreach (var document in documents)
            {
                if (tokenLimit > 0 && textTokens >= tokenLimit) break;
                var (doc, complete) = EvaluationLimit.Prefix(document, tokenizer, tokenLimit > 0 ? tokenLimit - textTokens : 0);
                var body = tokenizer.Encode(doc);
                textTokens += body.Count;
                // A document cut by the limit is scored without its EOS: its end is not in the scored text.
                int[] ids = complete ? [tokenizer.BosId, .. body, tokenizer.EosId] : [tokenizer.BosId, .. body];
                if (ids.Length < 2) continue;
                int scoredUpTo = 1;                                 // next target position to score
                for (int begin = 0; scoredUpTo < ids.Length; begin += stride)
                {
                    using var scope = NewDisposeScope();
                    int end = Math.Min(begin + window, ids.Length - 1); // inputs ids[begin..end) predict ids[begin+1..end]
                    var input = tensor(ids[begin..end].Select(i => (long)i).ToArray(), new long[] { 1, end - begin }, device: device);
                    var logProbs = model.forward(input, ones_like(input)).log_softmax(-1).squeeze(0);   // (T, V)
                    int from = scoredUpTo - (begin + 1);                                               // first new target row
                    var targets = tensor(ids[scoredUpTo..(end + 1)].Select(i => (long)i).ToArray(), device: device);
                    nll -= logProbs.narrow(0, from, end - begin - from).gather(1, targets.unsqueeze(1)).sum().item<float>();
                    tokens += targets.shape[0];
                    scoredUpTo = end + 1;
                }
                bytes += Encoding.UTF8.GetByteCount(doc);
            }
        }
        double loss = nll / Math.Max(1, tokens);
        return new EvalResult(loss, Math.Exp(loss), nll / Math.Log(2) / Math.Max(1, bytes), null, null, tokens, bytes) { Context = window };
    }

    /// <summary>The window a token model is scored with: <paramref name="context"/> when positive (at most the positions), else its trained context.</summary>
    public static int Window(OptConfig config, int context = 0)
    {
        if (context < 0) throw new ArgumentOutOfRangeException(nameof(context), context, "the context must be positive (or 0: the trained context)");
        if (context > config.MaxPositionEmbeddings) throw new ArgumentOutOfRangeException(nameof(context), context, $"the context exceeds max_position_embeddings {config.MaxPositionEmbeddings}");
        return Math.Max(2, context > 0 ? context : config.Context);
    }
}
