using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ScottPlot;
using SentenceVae.Checkpoints;
using SentenceVae.Data;
using SentenceVae.Evaluation;

namespace SentenceVae.Cli.Commands;

/// <summary>The figures of <c>svae bench</c>: the paper-size matrix, the speed–quality Pareto plot, the per-batch frontiers (each family's Pareto front), KV bytes against context.</summary>
internal static class BenchPlots
{
    /// <summary>Output tokens/s against parameters, both families, batch 1 and 8 (OPT's vocabulary, the middle prompt).</summary>
    internal static void PaperPlot(List<PaperBenchRow> rows, string path)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        int prompt = rows.Select(r => r.PromptTokens).Distinct().Order().ElementAt(rows.Select(r => r.PromptTokens).Distinct().Count() / 2);
        var chosen = rows.Where(r => r.DecoderVocab == rows[0].DecoderVocab && r.PromptTokens == prompt).ToList();
        int color = 0;
        foreach (int batch in chosen.Select(r => r.Batch).Distinct())
        {
            var opt = chosen.Where(r => r.Batch == batch && r.H == chosen.Min(x => x.H)).OrderBy(r => r.BaselineParams).ToList();
            var line = plot.Add.ScatterLine(opt.Select(r => r.BaselineParams / 1e6).ToArray(), opt.Select(r => r.BaselineTokensPerS).ToArray(), palette.GetColor(color++));
            line.LegendText = $"OPT, batch {batch}";
            foreach (int h in chosen.Select(r => r.H).Distinct())
            {
                var s = chosen.Where(r => r.Batch == batch && r.H == h).OrderBy(r => r.SllmParams).ToList();
                var l = plot.Add.ScatterLine(s.Select(r => r.SllmParams / 1e6).ToArray(), s.Select(r => r.SllmTokensPerS).ToArray(), palette.GetColor(color++));
                l.LegendText = $"SLLM-H{h}, batch {batch}";
                l.LinePattern = LinePattern.Dashed;
            }
        }
        plot.Axes.SetupMultiplierNotation(plot.Axes.Left);
        plot.XLabel("parameters (millions)");
        plot.YLabel($"output tokens/s (all rows, {prompt}-token context)");
        plot.Title("Paper sizes, random weights, fp32, measured side by side");
        plot.ShowLegend();
        plot.SavePng(path, 1000, 650);
    }

    /// <summary>Quality against speed: one labelled point per model (x: output tokens/s at the 256-token prompt, y: bits per byte; lower right is better).</summary>
    internal static void Pareto(BenchmarkReport report, string path)
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

    /// <summary>The batch sizes a report timed (its case keys: "P" is batch 1, "PxB" batch B).</summary>
    internal static IEnumerable<int> BatchesOf(BenchmarkReport report) =>
        report.Models[0].OutputTokensPerS.Keys.Select(k => k.Contains('x') ? int.Parse(k[(k.IndexOf('x') + 1)..]) : 1).Distinct();

    /// <summary>FILE.png → FILE-b16.png: one frontier plot per batch size.</summary>
    internal static string FrontierPath(string path, int batch) =>
        Path.Combine(Path.GetDirectoryName(path) ?? "", $"{Path.GetFileNameWithoutExtension(path)}-b{batch}{(Path.HasExtension(path) ? Path.GetExtension(path) : ".png")}");

    /// <summary>
    /// The speed–quality frontier of each family at one batch size: bits per byte (y, lower is better)
    /// against output tokens/s (x, after the 256-token prompt, else the middle one). Each kind of model is
    /// drawn as its Pareto front — the points no other of its kind beats in both, joined in order of speed —
    /// and its dominated points hollow, off the line; every point labelled with its name and numbers.
    /// </summary>
    internal static void Frontier(BenchmarkReport report, int batch, string path)
    {
        var prompts = report.Models[0].OutputTokensPerS.Keys.Select(k => int.Parse(k.Split('x')[0])).Distinct().ToArray();
        int prompt = prompts.Contains(256) ? 256 : prompts[prompts.Length / 2];
        string key = Benchmark.CaseKey(prompt, batch);
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        int family = 0;
        foreach (var group in report.Models.GroupBy(m => m.Kind))
        {
            var points = group.OrderBy(m => m.OutputTokensPerS[key]).ToList();
            var onFront = Statistics.ParetoFront(points.Select(m => (m.OutputTokensPerS[key], m.BitsPerByte)).ToList());
            var front = points.Where((_, i) => onFront[i]).ToList();
            var line = plot.Add.ScatterLine(front.Select(m => m.OutputTokensPerS[key]).ToArray(), front.Select(m => m.BitsPerByte).ToArray(), palette.GetColor(family));
            line.MarkerSize = 9;
            line.MarkerShape = family == 0 ? MarkerShape.FilledCircle : MarkerShape.FilledSquare;
            line.LineWidth = 2;
            line.LegendText = (group.Key == ModelKind.TokenModel ? "token models" : "sentence-level LLMs") + " (front; hollow: dominated)";
            var dominated = points.Where((_, i) => !onFront[i]).ToList();
            if (dominated.Count > 0)
            {
                var hollow = plot.Add.ScatterPoints(dominated.Select(m => m.OutputTokensPerS[key]).ToArray(), dominated.Select(m => m.BitsPerByte).ToArray(), palette.GetColor(family));
                hollow.MarkerSize = 9;
                hollow.MarkerShape = family == 0 ? MarkerShape.OpenCircle : MarkerShape.OpenSquare;
            }
            foreach (var m in points)
            {
                var label = plot.Add.Text($"{m.Name}\n{m.BitsPerByte:0.000} bpb, {m.OutputTokensPerS[key]:0} tok/s", m.OutputTokensPerS[key], m.BitsPerByte);
                label.LabelFontSize = 10;
                label.LabelFontColor = palette.GetColor(family);
                label.OffsetX = 7;
                label.OffsetY = -4;
            }
            family++;
        }
        plot.XLabel($"output tokens/s, all rows (batch {batch}, {prompt}-token prompt)");
        plot.YLabel("bits per byte, validation text (lower is better)");
        plot.Title($"Speed–quality frontier at batch {batch}, measured in one run ({report.Machine["date"]})");
        // Room on the right for the labels, which extend right of their points.
        var xs = report.Models.Select(m => m.OutputTokensPerS[key]).ToList();
        var ys = report.Models.Select(m => m.BitsPerByte).ToList();
        double spanX = Math.Max(1e-9, xs.Max() - xs.Min()), spanY = Math.Max(1e-9, ys.Max() - ys.Min());
        plot.Axes.SetLimits(xs.Min() - 0.08 * spanX, xs.Max() + 0.35 * spanX, ys.Min() - 0.08 * spanY, ys.Max() + 0.12 * spanY);
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 1100, 700);
    }

    internal static void Plot(BenchmarkReport report, string path)
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
