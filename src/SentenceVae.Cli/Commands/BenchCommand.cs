using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ScottPlot;
using SentenceVae.Data;
using SentenceVae.Evaluation;

namespace SentenceVae.Cli.Commands;

/// <summary><c>svae bench</c>: the paper's comparison (speed, perplexity, memory) measured side by side in one run.</summary>
internal static class BenchCommand
{
    public static Command Create(CliIO io)
    {
        var baseline = new Option<string>("--baseline") { Description = "token-level baseline model directory (e.g. models/lm-256)", Required = true };
        var models = new Option<string[]>("--models") { Description = "sentence-level LLM directories (e.g. models/sllm-256-h1)", Required = true, AllowMultipleArgumentsPerToken = true };
        var data = new Option<string>("--data") { Description = "text to evaluate and take prompts from (one document per line)", Required = true };
        var json = new Option<string?>("--json") { Description = "write the JSON report here ('-' for standard output)" };
        var markdown = new Option<string?>("--markdown") { Description = "write the markdown table here" };
        var plot = new Option<string?>("--plot") { Description = "write a PNG of KV-cache bytes and memory growth vs context length" };
        var pareto = new Option<string?>("--pareto") { Description = "write a PNG of bits per byte vs output tokens/s (at the 256-token prompt, else the middle one) for every model" };
        var runs = new Option<int>("--runs") { Description = "timed runs per figure (median), after a warm-up", DefaultValueFactory = _ => 5 };
        var prompts = new Option<int[]>("--prompt-tokens") { Description = "prompt lengths in tokens", DefaultValueFactory = _ => new[] { 64, 256, 1024 }, AllowMultipleArgumentsPerToken = true };
        var output = new Option<int>("--output-tokens") { Description = "output tokens timed per run", DefaultValueFactory = _ => 32 };
        var evalTokens = new Option<long>("--eval-tokens") { Description = "evaluate only about this many tokens of the text (0: all)" };
        var threads = new Option<int>("--threads") { Description = "libtorch threads", DefaultValueFactory = _ => 2 };
        var command = new Command("bench", "Benchmark a token-level baseline against sentence-level LLMs: ppl, bits/byte, output tok/s, KV bytes/token, ratios.")
            { baseline, models, data, json, markdown, plot, pareto, runs, prompts, output, evalTokens, threads };
        command.SetAction(parse =>
        {
            // Every output's folder must exist before a run of many minutes starts.
            foreach (var path in new[] { parse.GetValue(json), parse.GetValue(markdown), parse.GetValue(plot), parse.GetValue(pareto) })
                if (path is not null && path != "-" && Path.GetDirectoryName(Path.GetFullPath(path)) is { } folder && !Directory.Exists(folder))
                    throw new DirectoryNotFoundException($"{path}: the folder {folder} does not exist");
            var documents = CorpusReader.ReadDocuments(parse.GetValue(data)!).ToList();
            if (documents.Count == 0) throw new InvalidDataException($"{parse.GetValue(data)}: no text to benchmark on (every line is empty)");
            var report = Benchmark.Run(parse.GetValue(baseline)!, parse.GetValue(models)!, documents, new BenchmarkOptions
            {
                Runs = parse.GetValue(runs), PromptTokens = parse.GetValue(prompts)!, OutputTokens = parse.GetValue(output),
                EvalTokens = parse.GetValue(evalTokens), Threads = parse.GetValue(threads),
            }, message => io.Error.WriteLine($"[bench] {message}"));
            string table = Markdown(report);
            Write(parse.GetValue(markdown), table, io);
            if (parse.GetValue(json) is { } jsonPath) Write(jsonPath, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }) + "\n", io);
            if (parse.GetValue(plot) is { } png) Plot(report, png);
            if (parse.GetValue(pareto) is { } paretoPng) Pareto(report, paretoPng);
            if (parse.GetValue(json) != "-") io.Out.Write(table);
            return 0;
        });
        return command;
    }

    private static void Write(string? path, string content, CliIO io)
    {
        if (path is null) return;
        if (path == "-") io.Out.Write(content);
        else File.WriteAllText(path, content);
    }

    /// <summary>The paper's table layout (model, params, PPL, speed, memory) with bits per byte and the ratios to the baseline.</summary>
    public static string Markdown(BenchmarkReport report)
    {
        var prompts = report.Models[0].OutputTokensPerS.Keys.ToList();
        string last = prompts[^1];
        var sb = new StringBuilder();
        var m = report.Machine;
        sb.AppendLine($"Measured {m["date"]} on {m["cpu"]} ({m["threads"]} threads, {m["device"]}, {m["dtype"]}), batch 1, greedy, median of {report.Settings["runs"]} runs; " +
                      $"{report.Settings["eval_bytes"]:N0} bytes of text evaluated.");
        sb.AppendLine();
        sb.AppendLine($"| model | params | PPL (token) | bits/byte | bpb ratio | output tok/s @{string.Join(" / @", prompts)} | speed ratio @{string.Join(" / @", prompts)} | prefill tok/s | KV B/token @{last} (analytic) | KV ratio | token acc | exact match |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var x in report.Models)
        {
            var r = x.Ratios!;
            sb.AppendLine(string.Join(" | ", new[]
            {
                $"| {x.Name}", $"{x.Params / 1e6:0.0}M", $"{x.Ppl:0.00}", $"{x.BitsPerByte:0.000}", $"{r.Bpb:0.00}x",
                string.Join(" / ", prompts.Select(p => $"{x.OutputTokensPerS[p]:0}")),
                string.Join(" / ", prompts.Select(p => $"{r.Throughput[p]:0.00}x")),
                $"{x.PrefillTokensPerS:0}", $"{x.KvBytesPerToken[last]:0} ({x.KvBytesPerTokenAnalytic:0})", $"{r.Kv[last]:0.00}x",
                x.TokenAccuracy is double a ? $"{a:P1}" : "–", x.ExactMatch is double e ? $"{e:P1}" : "–",
            }) + " |");
        }
        return sb.ToString();
    }

    /// <summary>Quality against speed: one labelled point per model (x: output tokens/s at the 256-token prompt, y: bits per byte; lower right is better).</summary>
    private static void Pareto(BenchmarkReport report, string path)
    {
        var prompts = report.Models[0].OutputTokensPerS.Keys.ToList();
        string prompt = prompts.Contains("256") ? "256" : prompts[prompts.Count / 2];
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < report.Models.Count; i++)
        {
            var model = report.Models[i];
            double x = model.OutputTokensPerS[prompt], y = model.BitsPerByte;
            var point = plot.Add.Scatter(new[] { x }, new[] { y }, palette.GetColor(i));
            point.MarkerSize = 10;
            point.LegendText = $"{model.Name}: {y:0.000} bpb, {x:0} tok/s";
            var label = plot.Add.Text(model.Name, x, y);
            label.LabelFontSize = 11;
            label.OffsetX = 6;
        }
        plot.XLabel($"output tokens/s (batch 1, {prompt}-token prompt)");
        plot.YLabel("bits per byte (lower is better)");
        plot.Title($"Quality vs speed, measured in one run ({report.Machine["date"]})");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 1000, 650);
    }

    private static void Plot(BenchmarkReport report, string path)
    {
        var plot = new Plot();
        foreach (var model in report.Models)
        {
            var keys = model.KvBytesPerToken.Keys.ToList();
            double[] context = keys.Select(k => (double)model.PromptTokens[k]).ToArray();
            var kv = plot.Add.ScatterLine(context, keys.Select(k => model.KvBytesPerToken[k] * model.PromptTokens[k] / 1e6).ToArray());
            kv.LegendText = $"{model.Name}: KV cache (MB)";
            var rss = plot.Add.ScatterLine(context, keys.Select(k => model.MemoryGrowthBytes[k] / 1e6).ToArray());
            rss.LegendText = $"{model.Name}: process memory growth (MB)";
            rss.LinePattern = LinePattern.Dashed;
        }
        plot.XLabel("context (prompt tokens)");
        plot.YLabel("MB");
        plot.Title("Memory vs context length");
        plot.ShowLegend();
        plot.SavePng(path, 900, 600);
    }
}
