using System.Text;
using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Evaluation;

/// <summary>
/// Likelihood of whole documents under a sentence-level LLM, causally: for each piece, the decoder's
/// log-probabilities of its tokens and EOS given the previous pieces, plus every stop decision
/// (continue before each piece, stop after the last). The document's pieces concatenate to its text,
/// so bits per byte is over exactly the text the token baseline scores. Documents longer than the
/// backbone's positions are scored in overlapping windows, each piece once, with as much left
/// context as fits.
/// </summary>
public static class SllmEvaluator
{
    public static EvalResult Evaluate(SentenceLlm model, ITextTokenizer tokenizer, IEnumerable<string> documents, long tokenLimit = 0)
    {
        if (!model.Config.UseStartVector) throw new InvalidOperationException("scoring whole documents needs a start vector (the reference layout cannot predict a document's first piece)");
        var splitter = new SentenceSplitter(new SplitterOptions { MaxTokens = Math.Max(8, model.Config.Svae.MaxSeqLen - 1), CountTokens = tokenizer.CountTokens });
        var codec = new SentenceCodec(model.Svae);
        int window = model.Config.MaxPositions - 1, stride = Math.Max(1, window / 2);
        double nll = 0;
        long tokens = 0, bytes = 0;
        using (new EvaluationMode(model))
        {
            foreach (var doc in documents)
            {
                if (tokenLimit > 0 && tokens >= tokenLimit) break;
                var pieces = splitter.Split(doc).Select(p => tokenizer.Encode(p).ToArray()).ToList();
                int scoredUpTo = 0;                                      // next piece to score
                for (int begin = 0; ; begin += stride)
                {
                    using var scope = NewDisposeScope();
                    int end = Math.Min(begin + window, pieces.Count);
                    var context = pieces.GetRange(begin, end - begin);
                    // Window at the document start: [start, p0..]; later windows: [p_begin..] with p_begin as context.
                    var vectors = context.Count > 0 ? codec.Encode(context).transpose(0, 1) : zeros(1, 0, model.Config.Svae.HiddenSize);   // (1, n, C)
                    var sequence = begin == 0 ? cat([model.StartVectors(1), vectors], 1) : vectors;
                    var hidden = model.Backbone(sequence, ones(1, sequence.shape[1], dtype: ScalarType.Int64))[0];                           // (P, C)
                    int offset = begin == 0 ? 1 : 0;                                                    // hidden row predicting piece i: i - begin - 1 + offset
                    var stopLogProbs = model.StopLogits(hidden).log_softmax(-1);                        // (P, 2)

                    var targets = Enumerable.Range(scoredUpTo, end - scoredUpTo).ToList();
                    if (targets.Count > 0)
                    {
                        var rows = targets.Select(i => (long)(i - begin - 1 + offset)).ToArray();
                        var memory = hidden.index(tensor(rows)).unsqueeze(1);                           // (N, 1, C)
                        var (ids, mask) = codec.Batch(targets.Select(i => pieces[i]).ToList());
                        var logProbs = model.Svae.Decoder.forward(ids, memory, mask).log_softmax(-1);  // (N, T, V)
                        var goal = model.Svae.TargetIds(ids, mask).narrow(1, 1, ids.shape[1]);
                        var real = mask.to(ScalarType.Bool);
                        nll -= logProbs.gather(2, goal.unsqueeze(2)).squeeze(2)[real].sum().item<float>();
                        tokens += real.sum().item<long>();
                        nll -= stopLogProbs.index(tensor(rows)).select(1, StopHead.Continue).sum().item<float>();   // "another piece follows"
                    }
                    scoredUpTo = end;
                    if (end == pieces.Count)
                    {
                        nll -= stopLogProbs[^1, StopHead.Stop].item<float>();                            // "the document ends here"
                        break;
                    }
                }
                bytes += Encoding.UTF8.GetByteCount(doc);
            }
        }
        double loss = nll / Math.Max(1, tokens);
        return new EvalResult(loss, Math.Exp(loss), nll / Math.Log(2) / Math.Max(1, bytes), null, null, tokens, bytes);
    }
}
