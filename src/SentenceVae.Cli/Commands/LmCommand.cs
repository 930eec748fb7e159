using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using SentenceVae.Checkpoints;
using SentenceVae.Evaluation;
using static SentenceVae.Evaluation.Statistics;
using SentenceVae.Inference;
using SentenceVae.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Cli.Commands;

/// <summary><c>svae lm</c>: the token-level OPT model — generate (streaming) and bench (decode / prefill speed).</summary>
internal static class LmCommand
{
    public static Command Create(CliIO io) => new("lm", "Token-level OPT language models (Hugging Face directories).") { Generate(io), Bench(io) };

    private static Command Generate(CliIO io)
    {
        var model = new Option<string>("--model") { Description = "model directory: config.json + model.safetensors (or shards / pytorch_model.bin) + tokenizer", Required = true };
        var prompt = new PromptOptions();
        var tokenizer = new Option<string?>("--tokenizer") { Description = "tokenizer if the model directory has none: gpt2, compact or a directory" };
        var sampling = new SamplingFlags();
        var device = DeviceOption();
        var weights = CommonOptions.Weights();
        var command = new Command("generate", "Continue a prompt token by token, printing text as it is produced.") { model, tokenizer, device, weights };
        sampling.AddTo(command, pieces: false);
        prompt.AddTo(command);
        command.SetAction(async (parse, cancel) =>
        {
            string text = prompt.Read(parse, io);
            string dir = parse.GetValue(model)!;
            var tok = TextTokenizers.Load(parse.GetValue(tokenizer) ?? dir);
            using var lm = HuggingFaceCheckpoint.LoadOpt(dir, ParseDevice(parse.GetValue(device)!));
            if (tok.VocabSize > lm.Config.VocabSize)
                throw new CliUsageException($"tokenizer has {tok.VocabSize} ids but the model only {lm.Config.VocabSize}");
            var options = sampling.Read(parse, parse.GetValue(sampling.MaxTokens), GenerationConfig.Load(dir));
            var generator = new TokenGenerator(lm, tok) { Weights = CommonOptions.ParseWeights(parse.GetValue(weights)!) };
            var ids = generator.PromptIds(text);
            // BOS + prompt must fit the positions (generation past the trained context keeps its most recent half).
            int textTokens = ids.Length - 1;
            int keep = prompt.Fit(parse, textTokens, lm.Config.MaxPositionEmbeddings, "token", "max_position_embeddings");
            if (keep < textTokens) ids = [tok.BosId, .. ids[(ids.Length - keep)..]];
            io.Out.Write(keep < textTokens ? tok.Decode(ids) : TokenGenerator.TrimPrompt(text));
            await foreach (var token in generator.StreamAsync(ids, options, cancel))
            {
                io.Out.Write(token.Text);
                io.Out.Flush();
            }
            io.Out.WriteLine();
            return 0;
        });
        return command;
    }

    private static Command Bench(CliIO io)
    {
        var preset = new Option<string>("--config") { Description = "preset shape: opt-125m, opt-350m, opt-1.3b, lm-256 (random weights)", DefaultValueFactory = _ => "opt-125m" };
        var contexts = new Option<int[]>("--context") { Description = "context lengths for decode timing", DefaultValueFactory = _ => new[] { 128, 1024 }, AllowMultipleArgumentsPerToken = true };
        var tokens = new Option<int>("--tokens") { Description = "decode steps timed per run", DefaultValueFactory = _ => 32 };
        var prefill = new Option<int>("--prefill") { Description = "prompt length for prefill throughput", DefaultValueFactory = _ => 512 };
        var runs = new Option<int>("--runs") { Description = "timed runs (the median is reported), after a warm-up that packs the weights and runs at least 64 steps", DefaultValueFactory = _ => 5 };
        var threads = new Option<int>("--threads") { Description = "libtorch intra-op threads", DefaultValueFactory = _ => 2 };
        var json = CommonOptions.Json();
        var weights = CommonOptions.Weights();
        var command = new Command("bench", "Decode ms/token at given contexts and prefill tokens/s, each step beside its weight-streaming bound (a plain read timed before each run; random weights).")
            { preset, contexts, tokens, prefill, runs, threads, weights, json };
        command.SetAction(parse =>
        {
            set_num_threads(parse.GetValue(threads));
            var config = OptConfig.Presets.ByName(parse.GetValue(preset)!) with { Dropout = 0 };
            var format = CommonOptions.ParseWeights(parse.GetValue(weights)!);
            int runCount = parse.GetValue(runs), steps = parse.GetValue(tokens);
            if (runCount < 1 || steps < 1) throw new CliUsageException("--runs and --tokens must be at least 1");
            manual_seed(0);
            using var lm = new OptForCausalLm(config);
            lm.eval();
            long weightBytes = EngineTiming.TokenStepBytes(lm, format), fp32Bytes = EngineTiming.TokenStepBytes(lm);
            using var read = new WeightRead();
            // Decode: the serving engine, one row joining with a context of `context` positions (random keys/values), then `steps`
            // timed steps; plain reads timed just before and after each run give that run's bound.
            var decode = new Dictionary<string, double>();
            var vsBound = new Dictionary<string, double>();
            var vsFp32Bound = new Dictionary<string, double>();
            var bandwidths = new List<double>();
            var warmUp = new Dictionary<string, double>();
            foreach (int context in parse.GetValue(contexts)!)
            {
                using var engine = new TokenEngine(lm, config.EosTokenId, 1, context + steps + 1, format);
                // One-time work (packing the kernels' weights, first calls) before the first timed step, and said.
                warmUp[context.ToString()] = EngineTiming.WarmUp(engine, () => [EngineTiming.TokenRow(context, steps)]);
                io.Error.WriteLine($"svae: context {context}: one-time work (weights packed, first calls, {EngineTiming.WarmUpSteps}+ steps) took {warmUp[context.ToString()]:0.00} s");
                var runsOf = Enumerable.Range(0, runCount).Select(_ =>
                {
                    double before = read.BytesPerSecond();
                    double ms = EngineTiming.Write(engine, [EngineTiming.TokenRow(context, steps)]) * 1e3 / steps;
                    return (Ms: ms, Bandwidth: (before + read.BytesPerSecond()) / 2);
                }).ToList();
                bandwidths.AddRange(runsOf.Select(r => r.Bandwidth));
                decode[context.ToString()] = Median(runsOf.Select(r => r.Ms));
                vsBound[context.ToString()] = Median(runsOf.Select(r => r.Ms / (weightBytes / r.Bandwidth * 1e3)));
                vsFp32Bound[context.ToString()] = Median(runsOf.Select(r => r.Ms / (fp32Bytes / r.Bandwidth * 1e3)));
            }
            int prefillLength = parse.GetValue(prefill);
            double prefillPerS = Median(Enumerable.Range(0, runCount + 1).Select(_ => PrefillTokensPerS(lm, prefillLength)).Skip(1));
            double readBandwidth = Median(bandwidths);
            var result = new
            {
                config = parse.GetValue(preset), parameters = lm.ParameterCount(), threads = get_num_threads(), runs = runCount,
                weights = parse.GetValue(weights), weight_bytes = weightBytes, read_gb_per_s = readBandwidth / 1e9, bound_ms_per_token = weightBytes / readBandwidth * 1e3,
                decode_ms_per_token = decode, decode_vs_bound = vsBound, decode_vs_fp32_bound = vsFp32Bound, warm_up_s = warmUp,
                prefill_tokens = prefillLength, prefill_tokens_per_s = prefillPerS,
            };
            io.Out.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
        return command;
    }

    private static double PrefillTokensPerS(OptForCausalLm lm, int length)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var ids = randint(lm.Config.VocabSize, new long[] { 1, length });
        var sw = Stopwatch.StartNew();
        lm.forward(ids, ones(1, length, dtype: ScalarType.Int64)).select(1, -1).argmax(-1).item<long>();
        return length / sw.Elapsed.TotalSeconds;
    }


    internal static Option<string> DeviceOption() => new("--device") { Description = "cpu (default), cuda, cuda:N — cuda needs a CUDA libtorch package", DefaultValueFactory = _ => "cpu" };

    internal static Device ParseDevice(string spec)
    {
        try { return Devices.Parse(spec); }
        catch (ArgumentException e) { throw new CliUsageException(e.Message); }
    }
}
