def test_sign_in_and_today(client, make_user, sign_in):
    t = make_user("therapist")
    p = make_user("participant", therapist=t, group="G")
    r = sign_in(p)
    assert r.headers["Location"] == "/today"
    page = client.get("/today")
    assert page.status_code == 200
    assert "Good" in page.get_data(as_text=True)
