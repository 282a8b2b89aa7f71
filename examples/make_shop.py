"""Writes examples/shop.csv: a small synthetic click log of an online shop, the README's
worked example of your own data (python examples/make_shop.py). Clicks depend on the
user's age group and the product's category, and on the words of its title."""

import csv
from pathlib import Path

import numpy as np

rng = np.random.default_rng(7)
WORDS = {"wireless": 0.8, "organic": 0.6, "premium": 0.5, "compact": 0.3, "classic": 0.1,
         "basic": -0.3, "refurbished": -0.6, "generic": -0.8}
NOUNS = ["headphones", "coffee beans", "desk lamp", "running shoes", "backpack", "teapot",
         "keyboard", "yoga mat", "water bottle", "notebook"]
CATEGORIES = ["Electronics|Audio", "Grocery|Coffee", "Home|Lighting", "Sports|Shoes",
              "Bags", "Home|Kitchen", "Electronics|Computers", "Sports|Fitness",
              "Sports|Outdoor", "Office|Paper"]
COUNTRIES = ["FR", "DE", "NO", "PE", "UA", "JP"]
products = []
for p in range(200):
    noun = rng.integers(len(NOUNS))
    adjective = rng.choice(list(WORDS))
    products.append((f"P{p:04d}", f"{adjective.capitalize()} {NOUNS[noun]}", CATEGORIES[noun],
                     round(float(rng.lognormal(3, 0.6)), 2), WORDS[adjective]))
users = [(f"U{u:04d}", int(rng.integers(18, 70)), rng.choice(COUNTRIES)) for u in range(400)]
taste = rng.normal(size=(3, len(CATEGORIES)))  # age group x category
rows = []
for t in range(20_000):
    user_id, age, country = users[rng.integers(len(users))]
    product_id, title, categories, price, appeal = products[rng.integers(len(products))]
    group = 0 if age < 30 else 1 if age < 50 else 2
    logit = taste[group, CATEGORIES.index(categories)] + 1.5 * appeal - 0.01 * price
    clicked = int(rng.random() < 1 / (1 + np.exp(-logit)))
    rows.append([user_id, age, country, product_id, title, categories, price,
                 1_700_000_000 + 60 * t, clicked])
with (Path(__file__).parent / "shop.csv").open("w", newline="") as out:
    writer = csv.writer(out)
    writer.writerow(["user_id", "age", "country", "product_id", "title", "categories",
                     "price", "timestamp", "clicked"])
    writer.writerows(rows)
