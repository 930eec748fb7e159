using System.Text;
using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Evaluation;

/// <summary>
/// How well a SentenceVAE reconstructs pieces: teacher-forced cross entropy and argmax accuracy over
/// every target token (EOS included), and exact match of greedy decoding from the encoder's vector.
/// </summary>
public static class VaeEvaluator
{
    /// <summary>Reconstruction of <paramref name="pieces"/> through the SentenceVAE: token accuracy, exact matches and teacher-forced loss.</summary>
    public static EvalResult Evaluate(SentenceVaeModel model, ITextTokenizer tokenizer, IReadOnlyList<string> pieces, int batchSize = 64)
    {
        var ids = pieces.Select(p => tokenizer.Encode(p).ToArray()).ToList();
        var codec = new SentenceCodec(model, batchSize);
        double nll = 0;
        long tokens = 0, correct = 0, exact = 0;
        using (new EvaluationMode(model))
        {
            // Similar lengths together: less padding, same result.
            var order = Enumerable.Range(0, pieces.Count).OrderBy(i => ids[i].Length).ToArray();
            foreach (var chunk in order.Chunk(batchSize))
            {
                using var scope = NewDisposeScope();
                var (input, mask) = codec.Batch(chunk.Select(i => ids[i]).ToList(), Devices.DeviceOf(model));
                var output = model.forward(input, mask);
                var real = mask.to(ScalarType.Bool);
                var logits = output.Logits[real];                                              // (N, V)
                var targets = output.TargetIds.narrow(1, 1, input.shape[1])[real];             // (N)
                nll += nn.functional.cross_entropy(logits, targets, reduction: nn.Reduction.Sum).item<float>();
                correct += logits.argmax(-1).eq(targets).sum().item<long>();
                tokens += targets.shape[0];
                var decoded = codec.Decode(output.SentenceVectors, new GenerationOptions { MaxNewTokens = model.Config.MaxSeqLen });
                for (int k = 0; k < chunk.Length; k++)
                    if (tokenizer.Decode(decoded[k]) == pieces[chunk[k]]) exact++;
            }
        }
        double loss = nll / Math.Max(1, tokens);
        return new EvalResult(loss, Math.Exp(loss), null, (double)correct / Math.Max(1, tokens), (double)exact / Math.Max(1, pieces.Count),
            tokens, pieces.Sum(p => (long)Encoding.UTF8.GetByteCount(p)));
    }
}
