// QuickStart: stream a sentence-level LLM's continuation piece by piece, then encode a sentence to a vector.
// Usage: dotnet run -- [MODEL_DIR]   (default: ../../models/sllm-256-e2e from this folder)
using SentenceVae.Checkpoints;
using SentenceVae.Inference;
using SentenceVae.Text;

string dir = args.Length > 0 ? args[0] : Path.Combine("..", "..", "models", "sllm-256-e2e");
using var model = SentenceLlmCheckpoint.Load(dir);
var tokenizer = TextTokenizers.Load(dir);

// Generation streams one piece (sentence or clause) at a time; the reading defaults sample (temperature 0.8,
// top-p 0.95) with a mild repetition control — new GenerationOptions() is greedy.
var generator = new SentenceLlmGenerator(model, tokenizer);
var options = new SentenceGenerationOptions { MaxPieces = 4, Tokens = GenerationOptions.Reading with { Seed = 1 } };
await foreach (var piece in generator.StreamAsync("It is a truth universally acknowledged,", options))
    Console.WriteLine($"piece {piece.Index}: {piece.Text}");

// The Sentence Encoder turns a piece into one vector.
var codec = new SentenceCodec(model.Svae);
using var vector = codec.Encode([tokenizer.Encode("Sir Walter Elliot, of Kellynch Hall,").ToArray()]);
Console.WriteLine($"vector: {vector.shape[^1]} floats, first {vector[0, 0, 0].item<float>():F4}");
