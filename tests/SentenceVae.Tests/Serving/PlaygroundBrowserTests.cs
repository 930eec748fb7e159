using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace SentenceVae.Tests.Serving;

/// <summary>
/// The playground page in headless Chromium (Debian's chromium + chromium-driver; .ci/run installs them),
/// driven by Selenium with the driver's path given, so nothing is downloaded.
/// </summary>
[Collection(ServerCollection.Name)]
public class PlaygroundBrowserTests(ServerFixture server)
{
    private const string Driver = BrowserFactAttribute.Driver, Browser = BrowserFactAttribute.Browser;

    [BrowserFact]
    public void ThePlaygroundStreamsMarkedPiecesBesideTheTokenModel()
    {
        Assert.True(File.Exists(Driver) && File.Exists(Browser), $"{Browser} and {Driver} are needed: apt-get install chromium chromium-driver");
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(Driver)!, Path.GetFileName(Driver));
        service.HideCommandPromptWindow = true;
        var options = new ChromeOptions { BinaryLocation = Browser };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900");
        using var driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
        driver.Navigate().GoToUrl(server.Server.Address);
        var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(60));
        wait.Until(d => d.FindElements(By.CssSelector("#left .model option")).Count == 2);
        Assert.Equal(ServerFixture.Sllm, driver.FindElement(By.CssSelector("#left .model")).GetDomProperty("value"));
        Assert.Equal(ServerFixture.Lm, driver.FindElement(By.CssSelector("#right .model")).GetDomProperty("value"));

        var prompt = driver.FindElement(By.Id("prompt"));
        prompt.Clear();
        prompt.SendKeys("Mr. Knightley was a sensible man about seven or eight-and-thirty.");
        Set(driver, ("temperature", "0"), ("top-p", "1"));                             // greedy: the same pieces every run
        GenerateAndWait(driver, wait);

        var pieces = driver.FindElements(By.CssSelector("#left .output .piece")).Select(e => e.Text).ToList();
        var tokens = driver.FindElements(By.CssSelector("#right .output .piece")).Count;
        Assert.True(pieces.Count >= 2, $"{pieces.Count} marked pieces");
        Assert.True(tokens > pieces.Count, $"{tokens} token spans beside {pieces.Count} pieces");
        Assert.Matches(@"\d+ tokens · \d+ tokens/s", driver.FindElement(By.CssSelector("#left .stats")).Text);
        Assert.Matches(@"\d+ tokens · \d+ tokens/s", driver.FindElement(By.CssSelector("#right .stats")).Text);
        Assert.Empty(driver.FindElements(By.CssSelector(".error")));

        // Then with the page's reading defaults (sampling, repetition penalty, no repeated pieces): it streams
        // without an error, and this is the screenshot the README shows (docs/playground.png is a copy of it).
        Set(driver, ("temperature", "0.8"), ("top-p", "0.95"));
        Assert.Equal("1.1", driver.FindElement(By.Id("repetition-penalty")).GetDomProperty("value"));
        Assert.Equal("8", driver.FindElement(By.Id("no-repeat-pieces")).GetDomProperty("value"));
        prompt.Clear();
        prompt.SendKeys("Emma Woodhouse, handsome, clever, and rich, with a comfortable home and happy disposition,");
        GenerateAndWait(driver, wait);
        Assert.Empty(driver.FindElements(By.CssSelector(".error")));

        string shot = Path.Combine(AppContext.BaseDirectory, "playground.png");
        driver.GetScreenshot().SaveAsFile(shot);
        Assert.True(new FileInfo(shot).Length > 10_000);
    }

    private static void Set(IWebDriver driver, params (string Id, string Value)[] inputs)
    {
        foreach (var (id, value) in inputs)
        {
            var input = driver.FindElement(By.Id(id));
            input.Clear();
            input.SendKeys(value);
        }
    }

    // Clicks Generate and waits until both panes say how they finished.
    private static void GenerateAndWait(IWebDriver driver, WebDriverWait wait)
    {
        driver.FindElement(By.Id("generate")).Click();
        wait.Until(d => d.FindElements(By.CssSelector("#left .output .piece")).Count >= 2);
        foreach (var pane in new[] { "#left", "#right" })
            wait.Until(d => d.FindElement(By.CssSelector($"{pane} .stats")).Text is var t && (t.Contains("length") || t.Contains("stop")));
    }
}
