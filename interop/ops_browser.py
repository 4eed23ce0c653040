"""The operations pages in a real browser: headless Chromium driven through
ChromeDriver by Selenium (WebDriver), neither of them ours.

    python ops_browser.py URL POINT SPKI SHOTS

URL is the portal (https://host:port); POINT a supply point of its database, whose
users ops1 (operator) and view1 (viewer) have the passwords "<user> password 12".
SPKI is the base64 SHA-256 of the portal certificate's public key: Chromium accepts
that certificate only (not any). SHOTS is the directory for the screenshots.

Steps: log in as ops1, find POINT in the list and open it, see its curve, block it with
a reason, see it blocked (on the point and in the list), reconnect it, report an
incident about it (its retailer shown as the contact), log out; log in as view1, open the
point: no control; open the incident: no form. Prints one JSON object of what it saw; exits
non-zero at the first step that does not hold.
"""

import json
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait


def browser(spki, profile):
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("IOTROUTE_CHROMIUM", "/usr/bin/chromium")
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1100,1000",
        f"--user-data-dir={profile}",
        f"--ignore-certificate-errors-spki-list={spki}",
    ]:
        options.add_argument(arg)
    service = Service(os.environ.get("IOTROUTE_CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=options)


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def main():
    url, point, spki, shots = sys.argv[1:5]
    os.makedirs(shots, exist_ok=True)
    seen = {}
    driver = browser(spki, os.path.join(shots, "profile"))
    # A page being replaced after a click: its elements go stale, the next one's are not
    # there yet. Both mean "not yet".
    wait = WebDriverWait(
        driver, 10, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
    )
    try:
        def login(user):
            driver.get(f"{url}/ops/login")
            driver.find_element(By.NAME, "user").send_keys(user)
            driver.find_element(By.NAME, "password").send_keys(f"{user} password 12")
            driver.find_element(By.NAME, "login").click()
            wait.until(ec.url_contains("/ops/points"))

        def state():
            return driver.find_element(By.ID, "state").get_attribute("data-state")

        login("ops1")
        rows = driver.find_elements(By.CSS_SELECTOR, "tr[data-point]")
        seen["points"] = len(rows)
        check(len(rows) > 0, "no point listed")
        driver.find_element(By.CSS_SELECTOR, f'tr[data-point="{point}"] a').click()
        wait.until(ec.presence_of_element_located((By.ID, "curve")))
        curve = driver.find_element(By.ID, "curve")
        seen["slots"] = int(curve.get_attribute("data-slots"))
        bars = driver.find_elements(By.CSS_SELECTOR, "#curve rect.in")
        check(len(bars) == seen["slots"] and seen["slots"] > 0, f"{len(bars)} bars, {seen['slots']} slots")
        # Drawn: the bars have a size on the page, not only in the markup.
        seen["tallest_bar_px"] = max(b.size["height"] for b in bars)
        check(seen["tallest_bar_px"] > 0, "the bars have no height")
        seen["state_before"] = state()
        check(seen["state_before"] == "registered", "not registered at first")
        driver.save_screenshot(os.path.join(shots, "1-point.png"))

        driver.find_element(By.NAME, "reason").send_keys("suspected tampering (browser test)")
        driver.find_element(By.NAME, "block").click()
        wait.until(lambda d: state() == "blocked")
        seen["state_blocked"] = state()
        check("suspected tampering" in driver.page_source, "the reason is not on the page")
        driver.save_screenshot(os.path.join(shots, "2-blocked.png"))
        driver.get(f"{url}/ops/points")
        check(
            driver.find_elements(By.CSS_SELECTOR, f'tr[data-point="{point}"] .blocked'),
            "the list does not show the point blocked",
        )
        driver.find_element(By.CSS_SELECTOR, f'tr[data-point="{point}"] a').click()
        wait.until(ec.presence_of_element_located((By.ID, "state")))
        driver.find_element(By.NAME, "reason").send_keys("checked on site")
        driver.find_element(By.NAME, "reconnect").click()
        wait.until(lambda d: state() == "registered")
        seen["state_reconnected"] = state()
        driver.save_screenshot(os.path.join(shots, "3-reconnected.png"))

        # An incident (OPS-01/08) through its form: a choice, a date, text areas.
        driver.get(f"{url}/ops/incidents")
        form = driver.find_element(By.ID, "record-form")
        form.find_element(By.NAME, "title").send_keys("terminal reported stolen")
        Select(form.find_element(By.NAME, "category")).select_by_visible_text("lost-terminal")
        Select(form.find_element(By.NAME, "status")).select_by_visible_text("open")
        # A date input takes keys in the browser's locale: set its value as the page would.
        driver.execute_script(
            "arguments[0].value = '2026-04-01'", form.find_element(By.NAME, "occurred")
        )
        form.find_element(By.NAME, "point").send_keys(point)
        for name, text in [
            ("what", "the user reports the terminal stolen"),
            ("place", "customer premises"),
            ("impact", "no readings from the point; nothing else affected"),
            ("next_steps", "block the point; the retailer contacts the user"),
        ]:
            form.find_element(By.NAME, name).send_keys(text)
        form.find_element(By.NAME, "save").click()
        wait.until(ec.url_contains("/ops/incidents/1"))
        seen["incident_contact"] = driver.find_element(By.CSS_SELECTOR, "td.contact").text
        check(len(seen["incident_contact"]) == 5, "no retailer as the contact")
        driver.save_screenshot(os.path.join(shots, "5-incident.png"))

        driver.find_element(By.NAME, "logout").click()
        wait.until(ec.url_contains("/ops/login"))

        login("view1")
        driver.get(f"{url}/ops/points/{point}")
        wait.until(ec.presence_of_element_located((By.ID, "curve")))
        seen["viewer_controls"] = len(
            driver.find_elements(By.CSS_SELECTOR, "button[name=block], button[name=reconnect], input[name=reason]")
        )
        check(seen["viewer_controls"] == 0, "a viewer sees controls")
        driver.save_screenshot(os.path.join(shots, "4-viewer.png"))
        driver.get(f"{url}/ops/incidents/1")
        wait.until(ec.presence_of_element_located((By.ID, "record")))
        seen["viewer_forms"] = len(driver.find_elements(By.ID, "record-form"))
        check(seen["viewer_forms"] == 0, "a viewer sees the incident's form")
    finally:
        driver.quit()
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
