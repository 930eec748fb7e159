using System.Text;
using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Evaluation;

/// <summary>
/// Likelihood of whole documents under a sentence-level LLM, causally, with the training forward pass
/// (<see cref="SentenceLlm.forward"/>): for each piece, the decoder's log-probabilities of its tokens
/// and EOS given the previous pieces, plus every stop decision (continue before each piece, stop after
/// the last). The document's pieces concatenate to its text, so bits per byte is over exactly the text
/// the token baseline scores. Documents longer than the model's context (the pieces it was trained on,
/// <see cref="SentenceLlmConfig.Context"/>, unless a context is given) are scored in overlapping
/// windows ([start,] pieces), stride half a window, each piece once, with as much left context as fits. A token limit (text
/// tokens, EOS not counted) stops after the whole pieces that hold about that many, inside a
/// document if need be; a document cut there has no "stop" decision scored.
/// </summary>
public static class SllmEvaluator
{
    /// <summary>Bits per byte and per-token loss of <paramref name="documents"/> under a sentence-level LLM (at most about <paramref name="tokenLimit"/> tokens when positive; windows of <paramref name="context"/> pieces when positive, else the trained context).</summary>
    public static EvalResult Evaluate(SentenceLlm model, ITextTokenizer tokenizer, IEnumerable<string> documents, long tokenLimit = 0, int context = 0)
    {
        if (!model.Config.UseStartVector) throw new InvalidOperationException("scoring whole documents needs a start vector (the reference layout cannot predict a document's first piece)");
        var splitter = model.Config.Svae.Splitter(tokenizer);
        var codec = new SentenceCodec(model.Svae);
        var device = Devices.DeviceOf(model);
        int window = Window(model.Config, context), stride = Math.Max(1, window / 2);
        double nll = 0;
        long tokens = 0, bytes = 0;
        using (new EvaluationMode(model))
        {
            long textTokens = 0;
            foreach (var document in documents)
            {
                if (tokenLimit > 0 && textTokens >= tokenLimit) break;
                var (texts, complete) = EvaluationLimit.Pieces(document, splitter, tokenizer, tokenLimit > 0 ? tokenLimit - textTokens : 0);
                var pieces = texts.Select(p => tokenizer.Encode(p).ToArray()).ToList();
                textTokens += pieces.Sum(p => p.Length);
                int scoredUpTo = 0;                                      // next piece to score
                for (int begin = 0; ; begin += stride)
                {
                    using var scope = NewDisposeScope();
                    int end = Math.Min(begin + window, pieces.Count);
                    var windowPieces = pieces.GetRange(begin, end - begin);
                    var (ids, mask) = windowPieces.Count > 0 ? codec.Batch(windowPieces, device) : codec.Batch([[]], device);
                    if (windowPieces.Count == 0) mask.zero_();
                    var layout = new PieceWindowLayout(windowPieces.Count, begin == 0, end == pieces.Count && complete, scoredUpTo - begin);
                    var scores = model.forward(ids.unsqueeze(0), mask.unsqueeze(0), [layout]);
                    nll += scores.TokenNll.item<float>() + scores.StopNll.item<float>();
                    tokens += scores.Tokens;
                    scoredUpTo = end;
                    if (end == pieces.Count) break;
                }
                bytes += texts.Sum(p => Encoding.UTF8.GetByteCount(p));
            }
        }
        double loss = nll / Math.Max(1, tokens);
        return new EvalResult(loss, Math.Exp(loss), nll / Math.Log(2) / Math.Max(1, bytes), null, null, tokens, bytes) { Context = window };
    }

    /// <summary>The window (pieces after the start vector) a sentence-level LLM is scored with: <paramref name="context"/> when positive (at most the positions), else its trained context.</summary>
    public static int Window(SentenceLlmConfig config, int context = 0)
    {
        if (context < 0) throw new ArgumentOutOfRangeException(nameof(context), context, "the context must be positive (or 0: the trained context)");
        if (context > config.MaxPositions - 1) throw new ArgumentOutOfRangeException(nameof(context), context, $"the context exceeds the backbone's positions less the start vector ({config.MaxPositions - 1})");
        return context > 0 ? context : config.Context;
    }
}
