"""In-place explanations for students: per tab, a short "what you are seeing" and the maths behind it.

Markdown with LaTeX (``$...$`` inline, ``$$...$$`` display), rendered by ``gr.Markdown`` with
``LATEX_DELIMITERS``. One place for every text, so a translation has one file to follow.
"""

from __future__ import annotations

import gradio as gr

LATEX_DELIMITERS = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]

SEEING = {
    "text": (
        "**What you are seeing.** A language model reads the prompt and gives every token of its vocabulary a score "
        "(a *logit*). The decoder turns the scores into probabilities, filters them, and picks one token; that token "
        "is appended and the model reads again. Colours show how probable each chosen token was. Click a token to "
        "see the candidates after each stage of the filter chain."
    ),
    "vae": (
        "**What you are seeing.** A variational autoencoder squeezes each 28×28 digit into a few numbers, its *latent "
        "code* z, and learned to draw the digit back from z. Walking in a straight or curved line between two codes "
        "and decoding every point shows what the model has learned lies *between* two digits."
    ),
    "gan": (
        "**What you are seeing.** A generator turns a random vector z (fixed by the seed) and a digit label into an "
        "image. It was trained against a discriminator that tried to tell its images from real ones. Nothing in it "
        "copies training images: every picture is drawn from z."
    ),
    "diffusion": (
        "**What you are seeing.** The model starts from pure noise and removes a little of it at every step. At each "
        "step it guesses the noise ε̂ in the image; subtracting that guess gives its current idea of the clean "
        "image, x̂₀. Early guesses are blurry averages; they sharpen as the noise goes."
    ),
    "t2i": (
        "**What you are seeing.** How a prompt becomes a picture, the way Stable Diffusion does it. The prompt is cut "
        "into tokens and a text encoder turns them into vectors. The denoising happens in a small *latent*, not on "
        "the pixels: at each step the network, reading the prompt's vectors through cross-attention, guesses the "
        "noise in the latent; the guess implies a clean latent, which the autoencoder's decoder shows as a picture. "
        "After the last step the decoder turns the final latent into the result."
    ),
}

MATHS = {
    "text": r"""
**Softmax with temperature.** With logits $z_i$ and temperature $T$,

$$p_i = \frac{e^{z_i / T}}{\sum_j e^{z_j / T}}.$$

$T < 1$ sharpens the distribution (the top token gains), $T > 1$ flattens it, $T \to 0$ is greedy decoding.

**The filters**, applied in the order shown on screen:

- *top-k* keeps the $k$ most probable tokens;
- *top-p* (nucleus) keeps the smallest set whose probabilities add up to at least $p$;
- *min-p* keeps tokens with $p_i \ge p_{\min} \cdot \max_j p_j$;
- *typical-p* keeps tokens whose surprisal $-\log p_i$ is closest to the entropy $H = -\sum_j p_j \log p_j$;
- *repetition penalty* $\theta$ divides a positive logit of an already-used token by $\theta$ (multiplies a negative one).
- *epsilon* drops tokens with $p_i < \epsilon$; *eta* drops $p_i < \min(\eta, \sqrt{\eta}\, e^{-H})$ (Hewitt et al. 2022);
- *top-nσ* keeps tokens with $z_i \ge \max_j z_j - n\sigma$, $\sigma$ the standard deviation of the logits (Tang et al. 2024);
- *XTC*, with probability $q$, removes every token with $p_i \ge \tau$ except the least likely of them;
- *DRY* subtracts $m \cdot b^{\,L - a}$ from the logit of a token that would make a repeat of length $L \ge a$ longer.

What survives is renormalised and sampled. **Surprisal** of the chosen token is $-\log p$; the **perplexity** of a
text of $n$ tokens is $\exp\left(-\frac{1}{n}\sum_t \log p(x_t \mid x_{<t})\right)$.
""",
    "vae": r"""
**The ELBO.** The encoder gives a Gaussian $q(z \mid x) = \mathcal{N}(\mu, \operatorname{diag}\sigma^2)$, the decoder
a Bernoulli per pixel $p(x \mid z)$. Training maximises the evidence lower bound

$$\log p(x) \ \ge\ \mathbb{E}_{q(z \mid x)}\left[\log p(x \mid z)\right] - \mathrm{KL}\left(q(z \mid x)\,\|\,\mathcal{N}(0, I)\right).$$

The first term rewards good reconstructions, the second keeps codes close to the prior, so that any $z$ drawn
from $\mathcal{N}(0, I)$ decodes to something digit-like. The studio reports $-\text{ELBO}$ in nats.

**Reparameterisation.** To backpropagate through sampling, write $z = \mu + \sigma \odot \epsilon$ with
$\epsilon \sim \mathcal{N}(0, I)$: the randomness is outside the network.

**lerp vs slerp.** $\operatorname{lerp}(a, b; t) = (1-t)\,a + t\,b$. In $d$ dimensions a prior sample has
$\|z\| \approx \sqrt{d}$, but the midpoint of two of them is shorter (about $\sqrt{d/2}$): a code the decoder
rarely saw. Spherical interpolation keeps the norm:

$$\operatorname{slerp}(a, b; t) = \frac{\sin((1-t)\,\Omega)}{\sin \Omega}\,a + \frac{\sin(t\,\Omega)}{\sin \Omega}\,b,
\qquad \cos \Omega = \frac{a \cdot b}{\|a\|\,\|b\|}.$$
""",
    "gan": r"""
**The minimax game** (Goodfellow et al. 2014). The discriminator $D$ learns to tell real $x$ from generated
$G(z)$; the generator $G$ learns to fool it:

$$\min_G \max_D \ \mathbb{E}_{x \sim p_{\text{data}}}\left[\log D(x)\right] + \mathbb{E}_{z \sim \mathcal{N}(0, I)}\left[\log\left(1 - D(G(z))\right)\right].$$

In practice $G$ maximises $\log D(G(z))$ instead (the *non-saturating* loss: stronger gradients early on).
At the game's equilibrium the generated distribution equals the data distribution and $D = \tfrac12$ everywhere.

**Truncation.** $G$ saw latents from $\mathcal{N}(0, I)$; samples from the tails are rare in training and
drawn worse. *Resampling* redraws every $|z_i| > \tau$; *rescaling* uses $\psi z$ with $\psi < 1$. Both trade
diversity for fidelity: smaller $\tau$ or $\psi$, cleaner and more alike.
""",
    "diffusion": r"""
**The forward process** adds Gaussian noise in $T$ small steps with variances $\beta_t$. With
$\alpha_t = 1 - \beta_t$ and $\bar\alpha_t = \prod_{s \le t} \alpha_s$, any step can be reached at once:

$$q(x_t \mid x_0) = \mathcal{N}\left(\sqrt{\bar\alpha_t}\,x_0,\ (1 - \bar\alpha_t)\,I\right), \qquad
x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1 - \bar\alpha_t}\,\epsilon.$$

**The network** $\epsilon_\theta(x_t, t, y)$ is trained to predict $\epsilon$: loss $\|\epsilon - \epsilon_\theta(x_t, t, y)\|^2$.
**The predicted clean image** follows by solving the line above for $x_0$:

$$\hat x_0 = \frac{x_t - \sqrt{1 - \bar\alpha_t}\,\hat\epsilon}{\sqrt{\bar\alpha_t}}.$$

**The reverse step** (DDPM) samples $x_{t-1} \sim \mathcal{N}(\tilde\mu_t, \tilde\beta_t I)$ with
$\tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1 - \bar\alpha_t}\,\hat x_0 + \frac{\sqrt{\alpha_t}\,(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t}\,x_t$;
DDIM, DPM-Solver and the others take larger, mostly deterministic steps along the same prediction.

**Classifier-free guidance** mixes the predictions with and without the label $y$ ($\varnothing$ = "no class"):

$$\hat\epsilon = \epsilon_\theta(x_t, t, \varnothing) + w\,\left(\epsilon_\theta(x_t, t, y) - \epsilon_\theta(x_t, t, \varnothing)\right).$$

$w = 1$ is the conditional model; $w > 1$ follows the label harder (more typical digits, less variety).
""",
    "t2i": r"""
**Latent diffusion** (Rombach et al. 2022). An autoencoder $E, D$ maps a picture $x$ to a latent
$z = s \cdot E(x)$ with $f\times$ fewer rows and columns ($s$ the *scaling factor*, so $z$ has unit variance) and back,
$x \approx D(z / s)$. Diffusion runs on $z$: the same forward process,
$z_t = \sqrt{\bar\alpha_t}\,z + \sqrt{1 - \bar\alpha_t}\,\epsilon$, and a network $\epsilon_\theta(z_t, t, c)$.

**The text condition.** The prompt's tokens go through a text encoder $\tau$ (CLIP's, a transformer):
$c = \tau(\text{prompt}) \in \mathbb{R}^{L \times d}$, one vector per token. The UNet reads them by cross-attention:
queries from the latent's positions, keys and values from $c$,

$$\operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}}\right) V, \quad
Q = W_Q\,h,\ K = W_K\,c,\ V = W_V\,c.$$

**Guidance with a negative prompt.** With $\bar c = \tau(\text{negative prompt})$ ($\bar c = \tau(\text{""})$, the
unconditional model, when it is empty):

$$\hat\epsilon = \epsilon_\theta(z_t, t, \bar c) + w\,\left(\epsilon_\theta(z_t, t, c) - \epsilon_\theta(z_t, t, \bar c)\right).$$

**img2img (SDEdit).** Start from a picture's latent, noise it to the level of step $\lceil s \cdot S \rceil$ from the
end, $z_{t_s} = \sqrt{\bar\alpha_{t_s}}\,z_0 + \sqrt{1 - \bar\alpha_{t_s}}\,\epsilon$, and run the remaining steps:
small $s$ keeps the picture, $s = 1$ forgets it.

**Variation seeds.** $z_T = \operatorname{slerp}(z_T^{(a)}, z_T^{(b)}; \lambda)$ keeps $\|z_T\|$ where the prior
puts it, so a small $\lambda$ gives a near copy and $\lambda = 1$ seed $b$'s picture.
""",
}


def explanation(family: str) -> None:
    """Render the short panel and the expandable maths for ``family`` inside the current Blocks context."""
    gr.Markdown(SEEING[family], elem_id=f"{family}-seeing")
    with gr.Accordion("The maths", open=False, elem_id=f"{family}-maths-accordion"):
        gr.Markdown(MATHS[family], latex_delimiters=LATEX_DELIMITERS, elem_id=f"{family}-maths")
