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
        int window = Window(model.Config, context);
        var device = Devices.DeviceOf(model);
        double nll = 0;
        long tokens = 0, bytes = 0;
        using (new EvaluationMode(model))
            foreach (var (ids, text) in Documents(tokenizer, documents, tokenLimit))
            {
                foreach (var (begin, end, from) in Windows(ids.Length, window))
                {
                    using var scope = NewDisposeScope();
                    var input = tensor(ids[begin..end].Select(i => (long)i).ToArray(), new long[] { 1, end - begin }, device: device);   // (1, T)
                    var logProbs = model.forward(input, ones_like(input)).log_softmax(-1).squeeze(0);   // (T, V)
                    var targets = tensor(ids[(from + 1)..(end + 1)].Select(i => (long)i).ToArray(), device: device);
                    nll -= logProbs.narrow(0, from - begin, end - from).gather(1, targets.unsqueeze(1)).sum().item<float>();
                    tokens += targets.shape[0];
                }
                bytes += Encoding.UTF8.GetByteCount(text);
            }
        double loss = nll / Math.Max(1, tokens);
        return new EvalResult(loss, Math.Exp(loss), nll / Math.Log(2) / Math.Max(1, bytes), null, null, tokens, bytes) { Context = window };
    }

    /// <summary>
    /// The scored documents as token ids (BOS, the text, EOS) with the text they score, at most <paramref name="tokenLimit"/>
    /// text tokens when positive: a document cut by the limit is scored without its EOS (its end is not in the scored text).
    /// </summary>
    internal static IEnumerable<(int[] Ids, string Text)> Documents(ITextTokenizer tokenizer, IEnumerable<string> documents, long tokenLimit)
    {
        long textTokens = 0;
        foreach (var document in documents)
        {
            if (tokenLimit > 0 && textTokens >= tokenLimit) yield break;
            var (doc, complete) = EvaluationLimit.Prefix(document, tokenizer, tokenLimit > 0 ? tokenLimit - textTokens : 0);
            var body = tokenizer.Encode(doc);
            textTokens += body.Count;
            int[] ids = complete ? [tokenizer.BosId, .. body, tokenizer.EosId] : [tokenizer.BosId, .. body];
            if (ids.Length >= 2) yield return (ids, doc);
        }
    }

    /// <summary>
    /// The windows a document of <paramref name="length"/> ids is scored in: inputs ids[Begin..End) of at most
    /// <paramref name="window"/> (each window half a window after the last), each predicting its next id, of which those
    /// after input From are scored — every id but the first exactly once.
    /// </summary>
    internal static IEnumerable<(int Begin, int End, int From)> Windows(int length, int window)
    {
        int scoredUpTo = 1;                                     // next target position to score
        for (int begin = 0; scoredUpTo < length; begin += window / 2)
        {
            int end = Math.Min(begin + window, length - 1);
            yield return (begin, end, scoredUpTo - 1);
            scoredUpTo = end + 1;
        }
    }

    /// <summary>The window a token model is scored with: <paramref name="context"/> when positive (at most the positions), else its trained context.</summary>
    public static int Window(OptConfig config, int context = 0)
    {
        if (context < 0) throw new ArgumentOutOfRangeException(nameof(context), context, "the context must be positive (or 0: the trained context)");
        if (context > config.MaxPositionEmbeddings) throw new ArgumentOutOfRangeException(nameof(context), context, $"the context exceeds max_position_embeddings {config.MaxPositionEmbeddings}");
        return Math.Max(2, context > 0 ? context : config.Context);
    }
}
