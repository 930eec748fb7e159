using System.Text;
using SentenceVae.Checkpoints;
using SentenceVae.Data;
using SentenceVae.Evaluation;
using SentenceVae.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Tests.Evaluation;

/// <summary>
/// The shipped token model scored one token at a time through a decoding engine's slot cache, over the
/// evaluator's own windows and scored tokens: a float32 cache gives the evaluator's bits per byte, and the
/// bfloat16 cache engines keep beside 16-bit and 8-bit weights costs almost nothing.
/// </summary>
public class SteppedScoringTests
{
    private const long Tokens = 2000;

    [Fact]
    public void AFloat32CacheScoresWhatTheEvaluatorScoresAndABFloat16CacheAlmostAsMuch()
    {
        string dir = Path.Combine(TestPaths.RepoRoot, "models", "lm-256");
        using var lm = HuggingFaceCheckpoint.LoadOpt(dir);
        lm.eval();
        var tokenizer = TextTokenizers.Load(dir);
        var docs = CorpusReader.ReadDocuments(Path.Combine(TestPaths.RepoRoot, "data", "austen-valid.txt")).ToList();
        var reference = LmEvaluator.Evaluate(lm, tokenizer, docs, Tokens);
        var (fp32, tokens, bytes) = Stepped(lm, tokenizer, docs, reference.Context!.Value, ScalarType.Float32);
        Assert.Equal((reference.Tokens, reference.Bytes), (tokens, bytes));
        Assert.Equal(reference.BitsPerByte!.Value, fp32, 1e-5);
        var (bf16, _, _) = Stepped(lm, tokenizer, docs, reference.Context!.Value, ScalarType.BFloat16);
        Assert.NotEqual(fp32, bf16);                                             // the cache did round
        Assert.InRange(Math.Abs(bf16 / fp32 - 1), 0, 1e-3);
    }

    // LmEvaluator's documents and windows, each window stepped token by token from an empty slot.
    private static (double BitsPerByte, long Tokens, long Bytes) Stepped(OptForCausalLm lm, ITextTokenizer tokenizer, List<string> docs, int window, ScalarType dtype)
    {
        double nll = 0;
        long tokens = 0, bytes = 0;
        using var head = lm.NewDecodingHead();
        using var noGrad = no_grad();
        foreach (var (ids, text) in LmEvaluator.Documents(tokenizer, docs, Tokens))
        {
            foreach (var (begin, end, from) in LmEvaluator.Windows(ids.Length, window))
            {
                using var cache = lm.NewSlotCache(1, window, CPU, dtype);
                for (int t = begin; t < end; t++)
                {
                    using var scope = NewDisposeScope();
                    var step = cache.Step(1);
                    var logits = lm.Step(tensor(new long[] { ids[t] }, new long[] { 1, 1 }), step, head);   // (1, V)
                    step.Commit();
                    if (t < from) continue;                                                              // context only
                    nll -= logits.log_softmax(-1)[0, ids[t + 1]].item<float>();
                    tokens++;
                }
            }
            bytes += Encoding.UTF8.GetByteCount(text);
        }
        return (nll / Math.Log(2) / bytes, tokens, bytes);
    }
}
