using System.CommandLine;
using System.Globalization;
using ScottPlot;

namespace SentenceVae.Cli.Commands;

/// <summary><c>svae plot RUN_DIR [--out FILE.png]</c>: training loss and validation curves from metrics.csv.</summary>
internal static class PlotCommand
{
    public static Command Create(CliIO io)
    {
        var runDir = new Argument<string>("RUN_DIR") { Description = "a training run directory (holds metrics.csv)" };
        var output = new Option<string?>("--out") { Description = "PNG to write (default RUN_DIR/curves.png)" };
        var command = new Command("plot", "Plot loss and validation metrics of a training run to a PNG.") { runDir, output };
        command.SetAction(parse =>
        {
            string dir = parse.GetValue(runDir)!;
            string csv = Path.Combine(dir, "metrics.csv");
            if (!File.Exists(csv)) throw new FileNotFoundException($"{csv}: no such file (is {dir} a run directory?)", csv);
            var lines = File.ReadAllLines(csv);
            var header = lines[0].Split(',');
            var rows = lines.Skip(1).Where(l => l.Length > 0).Select(l => l.Split(',')).ToList();
            double[] Column(string name, out double[] steps)
            {
                int c = Array.IndexOf(header, name), s = Array.IndexOf(header, "step");
                var present = rows.Where(r => c >= 0 && r[c].Length > 0).ToList();
                steps = present.Select(r => double.Parse(r[s], CultureInfo.InvariantCulture)).ToArray();
                return present.Select(r => double.Parse(r[c], CultureInfo.InvariantCulture)).ToArray();
            }

            var multiplot = new Multiplot();
            multiplot.AddPlots(2);
            var lossPlot = multiplot.GetPlot(0);
            var train = Column("train_loss", out var trainSteps);
            var val = Column("val_loss", out var valSteps);
            if (train.Length > 0) lossPlot.Add.ScatterLine(trainSteps, train).LegendText = "train loss";
            if (val.Length > 0) lossPlot.Add.ScatterLine(valSteps, val).LegendText = "validation loss (cross entropy)";
            string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir)));
            lossPlot.Title($"{name}: loss");
            lossPlot.XLabel("step");
            lossPlot.YLabel("nats per token");
            lossPlot.ShowLegend(Edge.Bottom);                      // outside the axes: never over the curves' ends

            var metricPlot = multiplot.GetPlot(1);
            foreach (var (column, label) in new[] { ("val_token_accuracy", "validation token accuracy"), ("val_exact_match", "validation exact match"), ("val_bits_per_byte", "validation bits per byte") })
            {
                var values = Column(column, out var steps);
                if (values.Length > 0) metricPlot.Add.ScatterLine(steps, values).LegendText = label;
            }
            metricPlot.Title($"{name}: validation (data the run held out)");
            metricPlot.XLabel("step");
            metricPlot.ShowLegend(Edge.Bottom);
            // Both panels over the same steps.
            double lastStep = rows.Count == 0 ? 1 : rows.Max(r => double.Parse(r[Array.IndexOf(header, "step")], CultureInfo.InvariantCulture));
            foreach (var p in new[] { lossPlot, metricPlot }) p.Axes.SetLimitsX(0, Math.Max(1, lastStep));

            string png = parse.GetValue(output) ?? Path.Combine(dir, "curves.png");
            multiplot.SavePng(png, 900, 900);
            io.Out.WriteLine($"wrote {png} ({rows.Count} rows)");
            return 0;
        });
        return command;
    }
}
