//! Product collections, localized prices, translations, short links, discount customers,
//! locales and supported countries: values read back across related routes.

use dodo_client::Client;
use dodo_client::types::{
    AddDiscountCustomersRequest, AddProductsToGroupRequest, CountryCodeAlpha2,
    CreateProductCollectionRequest, CreateShortLinkRequest, Currency, GroupProduct,
    ListProductsShortLinksQuery, PatchLocalizedPriceRequest,
    PatchProductCollectionGroupProductRequest, PatchProductCollectionGroupRequest,
    PatchProductCollectionRequest, ProductCollectionGroup, UpsertTranslationRequest,
};
use serde_json::{Value, json};

use crate::support::{Api, s};

fn client(api: &Api) -> Client {
    Client::builder()
        .api_key(api.emu.api_key())
        .base_url(api.emu.base_url())
        .max_retries(0)
        .build()
        .unwrap()
}

fn is_uuid(v: &str) -> bool {
    v.len() == 36 && v.chars().filter(|c| *c == '-').count() == 4
}

#[tokio::test]
async fn collection_groups_and_items_read_back_through_the_collection() {
    let api = Api::start().await;
    let c = client(&api);
    let book = api.one_time_product(1999).await;
    let plan = api.recurring_product(900).await;
    let (book_id, plan_id) = (s(&book["product_id"]), s(&plan["product_id"]));

    let created = c
        .product_collections()
        .create(
            &CreateProductCollectionRequest::new(
                vec![
                    ProductCollectionGroup::new(vec![GroupProduct::new(book_id)])
                        .group_name("Books"),
                ],
                "Catalog",
            )
            .description("Everything"),
        )
        .await
        .unwrap();
    assert!(created.id.starts_with("pdc_"), "{}", created.id);
    assert_eq!(created.name, "Catalog");
    assert_eq!(created.description.as_deref(), Some("Everything"));
    assert!(created.brand_id.starts_with("brnd_"));
    assert_eq!(created.groups.len(), 1);
    let books = &created.groups[0];
    assert!(is_uuid(&books.group_id), "{}", books.group_id);
    assert_eq!(books.group_name.as_deref(), Some("Books"));
    assert!(books.status);
    let item = &books.products[0];
    assert!(is_uuid(&item.id));
    assert_eq!(item.product_id, book_id);
    assert_eq!(item.price, Some(1999));
    assert_eq!(item.name.as_deref(), Some("E-book"));
    assert_eq!(item.currency, Some(Currency::Usd));
    assert!(item.status && !item.is_recurring && !item.has_credit_entitlements);
    let id = created.id.clone();

    // A second group, then the book added to it as well.
    let plans = c
        .product_collections()
        .groups()
        .create(
            &id,
            &ProductCollectionGroup::new(vec![GroupProduct::new(plan_id)]).group_name("Plans"),
        )
        .await
        .unwrap();
    assert!(plans.products[0].is_recurring);
    assert_eq!(plans.products[0].price, Some(900));
    let added = c
        .product_collections()
        .groups()
        .create_item(
            &id,
            &plans.group_id,
            &AddProductsToGroupRequest::new(vec![GroupProduct::new(book_id).status(false)]),
        )
        .await
        .unwrap();
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].product_id, book_id);
    assert!(!added[0].status);

    let got = c.product_collections().retrieve(&id).await.unwrap();
    let group_ids: Vec<&str> = got.groups.iter().map(|g| g.group_id.as_str()).collect();
    assert_eq!(
        group_ids,
        [books.group_id.as_str(), plans.group_id.as_str()]
    );
    let plan_items: Vec<(&str, &str, bool)> = got.groups[1]
        .products
        .iter()
        .map(|p| (p.id.as_str(), p.product_id.as_str(), p.status))
        .collect();
    assert_eq!(
        plan_items,
        [
            (plans.products[0].id.as_str(), plan_id, true),
            (added[0].id.as_str(), book_id, false)
        ]
    );
    let product = api
        .get(&format!("/products/{book_id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(product["product_collection_id"], id.as_str());

    // Updates: item status, item order, group name, group order.
    c.product_collections()
        .groups()
        .update_item(
            &id,
            &plans.group_id,
            &added[0].id,
            &PatchProductCollectionGroupProductRequest::new(true),
        )
        .await
        .unwrap();
    c.product_collections()
        .groups()
        .update(
            &id,
            &plans.group_id,
            &PatchProductCollectionGroupRequest::new()
                .group_name("Subscriptions")
                .product_order(vec![added[0].id.clone(), plans.products[0].id.clone()]),
        )
        .await
        .unwrap();
    c.product_collections()
        .update(
            &id,
            &PatchProductCollectionRequest::new()
                .group_order(vec![plans.group_id.clone(), books.group_id.clone()]),
        )
        .await
        .unwrap();
    let got = api
        .get(&format!("/product-collections/{id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(got["groups"][0]["group_id"], plans.group_id.as_str());
    assert_eq!(got["groups"][0]["group_name"], "Subscriptions");
    assert_eq!(got["groups"][0]["products"][0]["product_id"], book_id);
    assert_eq!(got["groups"][0]["products"][0]["status"], true);
    assert_eq!(got["groups"][1]["group_id"], books.group_id.as_str());

    // A PATCH with `description: null` clears it; a bad group order is refused.
    api.patch(
        &format!("/product-collections/{id}"),
        json!({"description": null}),
    )
    .await
    .expect(200);
    let bad_order = api
        .patch(
            &format!("/product-collections/{id}"),
            json!({"group_order": [plans.group_id]}),
        )
        .await
        .expect(422);
    assert!(s(&bad_order.body["message"]).contains("group_order"));

    let listed = api.get("/product-collections").await.expect(200).body;
    assert_eq!(listed["items"][0]["id"], id.as_str());
    assert_eq!(listed["items"][0]["products_count"], 2);
    assert_eq!(listed["items"][0]["description"], Value::Null);

    // Items must be real, live products, once per group.
    let unknown = api
        .post(
            &format!("/product-collections/{id}/groups/{}/items", plans.group_id),
            json!({"products": [{"product_id": "pdt_missing"}]}),
        )
        .await
        .expect(422);
    assert!(s(&unknown.body["message"]).contains("pdt_missing"));
    let twice = api
        .post(
            &format!("/product-collections/{id}/groups/{}/items", plans.group_id),
            json!({"products": [{"product_id": plan_id}]}),
        )
        .await
        .expect(422);
    assert!(s(&twice.body["message"]).contains("already"));
    api.post(
        &format!("/product-collections/{id}/groups"),
        json!({"group_name": "Books", "products": []}),
    )
    .await
    .expect(422);
    api.post(
        "/product-collections",
        json!({"name": "X", "groups": [{"products": [{"product_id": "pdt_nope"}]}]}),
    )
    .await
    .expect(422);
    let dup_names = api
        .post(
            "/product-collections",
            json!({"name": "X", "groups": [{"group_name": "A", "products": []},
                                           {"group_name": "A", "products": []}]}),
        )
        .await
        .expect(422);
    assert!(s(&dup_names.body["message"]).contains("groups[1].group_name"));
    api.post(
        "/product-collections",
        json!({"name": "X", "groups": [{"products": [{"product_id": book_id}, {"product_id": book_id}]}]}),
    )
    .await
    .expect(422);
    assert_eq!(
        api.get("/product-collections").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "refused creates store nothing"
    );
    api.patch(
        &format!("/product-collections/{id}/groups/00000000-0000-4000-8000-000000000000"),
        json!({"status": false}),
    )
    .await
    .expect(404);

    // Deleting the book's item in Subscriptions keeps it in Books; deleting Books frees it.
    c.product_collections()
        .groups()
        .delete_item(&id, &plans.group_id, &added[0].id)
        .await
        .unwrap();
    let got = c.product_collections().retrieve(&id).await.unwrap();
    assert_eq!(got.groups[0].products.len(), 1);
    assert_eq!(got.groups[0].products[0].product_id, plan_id);
    api.delete(&format!(
        "/product-collections/{id}/groups/{}/items/{}",
        plans.group_id, added[0].id
    ))
    .await
    .expect(404);
    c.product_collections()
        .groups()
        .delete(&id, &books.group_id)
        .await
        .unwrap();
    let got = c.product_collections().retrieve(&id).await.unwrap();
    assert_eq!(got.groups.len(), 1);
    let product = api
        .get(&format!("/products/{book_id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(product["product_collection_id"], Value::Null);
    assert_eq!(
        api.get("/product-collections").await.body["items"][0]["products_count"],
        1
    );
}

#[tokio::test]
async fn archived_collection_leaves_the_list_and_unarchive_excludes_archived_products() {
    let api = Api::start().await;
    let c = client(&api);
    let keep = api.one_time_product(500).await;
    let gone = api.one_time_product(700).await;
    let (keep_id, gone_id) = (s(&keep["product_id"]), s(&gone["product_id"]));
    let created = api
        .post(
            "/product-collections",
            json!({"name": "Bundle", "groups": [
                {"products": [{"product_id": keep_id}, {"product_id": gone_id}]},
                {"products": [{"product_id": gone_id}], "status": false}]}),
        )
        .await
        .expect(200)
        .body;
    let id = s(&created["id"]);
    assert_eq!(created["groups"][1]["status"], false);
    assert_eq!(created["groups"][0]["group_name"], Value::Null);

    api.delete(&format!("/product-collections/{id}"))
        .await
        .expect(200);
    assert_eq!(
        api.get("/product-collections").await.body["items"],
        json!([])
    );
    let archived = api
        .get("/product-collections?archived=true")
        .await
        .expect(200)
        .body;
    assert_eq!(archived["items"][0]["id"], id);
    api.get(&format!("/product-collections/{id}"))
        .await
        .expect(200);
    api.delete(&format!("/product-collections/{id}"))
        .await
        .expect(410);

    api.delete(&format!("/products/{gone_id}"))
        .await
        .expect(200);
    let back = c.product_collections().unarchive(id).await.unwrap();
    assert_eq!(back.collection_id, id);
    assert_eq!(back.excluded_product_ids, vec![gone_id.to_string()]);
    let listed = api.get("/product-collections").await.expect(200).body;
    assert_eq!(listed["items"][0]["id"], id);
    assert_eq!(listed["items"][0]["products_count"], 1);
    let got = c.product_collections().retrieve(id).await.unwrap();
    let products: Vec<&str> = got
        .groups
        .iter()
        .flat_map(|g| g.products.iter().map(|p| p.product_id.as_str()))
        .collect();
    assert_eq!(products, [keep_id]);
    let product = api.get(&format!("/products/{gone_id}")).await.body;
    assert_eq!(product["product_collection_id"], Value::Null);
    api.get("/product-collections/pdc_missing")
        .await
        .expect(404);
}

#[tokio::test]
async fn localized_prices_are_bound_to_their_product_and_its_pricing_mode() {
    let api = Api::start().await;
    let c = client(&api);
    let product = api.one_time_product(1000).await;
    let pid = s(&product["product_id"]);
    let path = format!("/products/{pid}/localized-prices");

    let no_mode = api
        .post(&path, json!({"currency": "EUR", "amount": 900}))
        .await
        .expect(422);
    assert_eq!(no_mode.body["code"], "PRICING_MODE_NOT_SET");
    api.patch(
        &format!("/products/{pid}"),
        json!({"pricing_mode": "by_currency"}),
    )
    .await
    .expect(200);

    let eur = api
        .post(&path, json!({"currency": "EUR", "amount": 900}))
        .await
        .expect(200)
        .body;
    let lid = s(&eur["id"]);
    assert!(lid.starts_with("lcp_"));
    assert_eq!(eur["product_id"], pid);
    assert_eq!(eur["mode"], "by_currency");
    assert_eq!(eur["currency"], "EUR");
    assert_eq!(eur["amount"], 900);
    assert_eq!(eur["country_code"], Value::Null);
    api.post(&path, json!({"currency": "EUR", "amount": 950}))
        .await
        .expect(409);
    api.post(
        &path,
        json!({"currency": "GBP", "amount": 800, "country_code": "GB"}),
    )
    .await
    .expect(422);
    api.post(&path, json!({"currency": "GBP", "amount": 0}))
        .await
        .expect(422);
    let huge = api
        .post(
            &path,
            json!({"currency": "GBP", "amount": 2_147_483_648_i64}),
        )
        .await
        .expect(422);
    assert!(s(&huge.body["message"]).contains("amount"));
    api.post(
        "/products/pdt_missing/localized-prices",
        json!({"currency": "GBP", "amount": 1}),
    )
    .await
    .expect(404);

    let listed = c.products().localized_prices().list(pid).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].id, lid);
    let other = api.one_time_product(1).await;
    api.get(&format!(
        "/products/{}/localized-prices/{lid}",
        s(&other["product_id"])
    ))
    .await
    .expect(404);

    let updated = c
        .products()
        .localized_prices()
        .update(pid, lid, &PatchLocalizedPriceRequest::new().amount(950))
        .await
        .unwrap();
    assert_eq!(updated.amount, 950);
    let got = c
        .products()
        .localized_prices()
        .retrieve(pid, lid)
        .await
        .unwrap();
    assert_eq!((got.amount, got.currency), (950, Currency::Eur));

    api.delete(&format!("{path}/{lid}")).await.expect(200);
    api.get(&format!("{path}/{lid}")).await.expect(404);
    api.patch(&format!("{path}/{lid}"), json!({"amount": 1}))
        .await
        .expect(404);
    api.delete(&format!("{path}/{lid}")).await.expect(200);
    assert_eq!(api.get(&path).await.body["items"], json!([]));
    // An archived rule no longer blocks its currency.
    api.post(&path, json!({"currency": "EUR", "amount": 990}))
        .await
        .expect(200);

    // Switching the product to by_country archives the by_currency rules.
    api.patch(
        &format!("/products/{pid}"),
        json!({"pricing_mode": "by_country"}),
    )
    .await
    .expect(200);
    assert_eq!(api.get(&path).await.body["items"], json!([]));
    api.post(&path, json!({"currency": "EUR", "amount": 700}))
        .await
        .expect(422);
    let de = api
        .post(
            &path,
            json!({"currency": "EUR", "amount": 700, "country_code": "DE"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(de["mode"], "by_country");
    assert_eq!(de["country_code"], "DE");
    let listed = c.products().localized_prices().list(pid).await.unwrap();
    assert_eq!(listed.items[0].country_code, Some(CountryCodeAlpha2::De));
    api.post(
        &path,
        json!({"currency": "USD", "amount": 800, "country_code": "DE"}),
    )
    .await
    .expect(409);
    // Clearing the mode archives every rule.
    api.patch(&format!("/products/{pid}"), json!({"pricing_mode": null}))
        .await
        .expect(200);
    assert_eq!(api.get(&path).await.body["items"], json!([]));
    let product = api.get(&format!("/products/{pid}")).await.body;
    assert_eq!(product["pricing_mode"], Value::Null);
}

#[tokio::test]
async fn translations_upsert_list_and_delete_per_parent() {
    let api = Api::start().await;
    let c = client(&api);
    let product = api.one_time_product(1000).await;
    let pid = s(&product["product_id"]);

    let fr = c
        .products()
        .translations()
        .upsert(pid, "fr", &UpsertTranslationRequest::new().name("Livre"))
        .await
        .unwrap();
    assert_eq!(fr.name.as_deref(), Some("Livre"));
    assert_eq!(fr.description, None);
    let created = api
        .put(
            &format!("/products/{pid}/translations/de"),
            json!({"name": "Buch", "description": "Ein Buch"}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(created["locale"], "de");
    let replaced = api
        .put(
            &format!("/products/{pid}/translations/fr"),
            json!({"description": "Un livre"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        replaced["name"],
        Value::Null,
        "PUT replaces the whole translation"
    );
    assert_eq!(replaced["description"], "Un livre");

    let all = api
        .get(&format!("/products/{pid}/translations"))
        .await
        .expect(200)
        .body;
    let locales: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| s(&t["locale"]))
        .collect();
    assert_eq!(locales, ["de", "fr"]);
    assert_eq!(all["items"][0]["name"], "Buch");
    let only = api
        .get(&format!("/products/{pid}/translations?locale=fr"))
        .await
        .expect(200)
        .body;
    assert_eq!(only["items"].as_array().unwrap().len(), 1);
    assert_eq!(only["items"][0]["description"], "Un livre");

    c.products().translations().delete(pid, "fr").await.unwrap();
    api.delete(&format!("/products/{pid}/translations/fr"))
        .await
        .expect(404);
    let left = api.get(&format!("/products/{pid}/translations")).await.body;
    assert_eq!(left["items"].as_array().unwrap().len(), 1);
    assert_eq!(left["items"][0]["locale"], "de");

    // The locale must be known and the parent must exist.
    let bad = api
        .put(
            &format!("/products/{pid}/translations/xx"),
            json!({"name": "?"}),
        )
        .await
        .expect(422);
    assert!(s(&bad.body["message"]).contains("locale"));
    api.put(
        "/products/pdt_missing/translations/fr",
        json!({"name": "x"}),
    )
    .await
    .expect(404);
    api.get("/credit-entitlements/cde_missing/translations")
        .await
        .expect(404);
    api.put(
        "/entitlements/ent_missing/translations/fr",
        json!({"name": "x"}),
    )
    .await
    .expect(404);

    // Translations are kept per parent: an addon and a collection have their own.
    let addon = api
        .post(
            "/addons",
            json!({"name": "Seat", "price": 500, "currency": "USD", "tax_category": "saas"}),
        )
        .await
        .expect(200)
        .body;
    let aid = s(&addon["id"]);
    api.put(
        &format!("/addons/{aid}/translations/es"),
        json!({"name": "Asiento"}),
    )
    .await
    .expect(201);
    let coll = api
        .post("/product-collections", json!({"name": "C", "groups": []}))
        .await
        .expect(200)
        .body;
    let cid = s(&coll["id"]);
    api.put(
        &format!("/product-collections/{cid}/translations/ja"),
        json!({"name": "コレクション"}),
    )
    .await
    .expect(201);
    let addon_tr = api.get(&format!("/addons/{aid}/translations")).await.body;
    assert_eq!(addon_tr["items"][0]["name"], "Asiento");
    assert_eq!(addon_tr["items"].as_array().unwrap().len(), 1);
    let coll_tr = api
        .get(&format!("/product-collections/{cid}/translations"))
        .await
        .body;
    assert_eq!(coll_tr["items"][0]["locale"], "ja");
    assert_eq!(coll_tr["items"][0]["name"], "コレクション");
}

#[tokio::test]
async fn short_link_redirects_to_the_static_checkout_over_http() {
    let api = Api::start().await;
    let product = api.one_time_product(1500).await;
    let pid = s(&product["product_id"]);
    let base = api.emu.base_url().to_string();

    let link = api
        .post(
            &format!("/products/{pid}/short_links"),
            json!({"slug": "spring-sale", "static_checkout_params": {"quantity": "2", "email": "a@b.co"}}),
        )
        .await
        .expect(200)
        .body;
    let full = format!("{base}/buy/{pid}?email=a%40b.co&quantity=2");
    assert_eq!(link["short_url"], format!("{base}/s/spring-sale"));
    assert_eq!(link["full_url"], full.as_str());

    // The short URL redirects (no redirect following) …
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = raw.get(s(&link["short_url"])).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], full.as_str());
    // … and followed, lands on the product's checkout page with the prefilled quantity.
    let page = reqwest::get(s(&link["short_url"])).await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.url().as_str(), full);
    let html = page.text().await.unwrap();
    assert!(html.contains("E-book"), "{html}");
    assert!(html.contains("a@b.co"));
    assert_eq!(
        raw.get(format!("{base}/s/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let taken = api
        .post(
            &format!("/products/{pid}/short_links"),
            json!({"slug": "spring-sale"}),
        )
        .await
        .expect(409);
    assert_eq!(taken.body["code"], "SLUG_TAKEN");
    api.post("/products/pdt_missing/short_links", json!({"slug": "x"}))
        .await
        .expect(404);
    api.post(
        &format!("/products/{pid}/short_links"),
        json!({"slug": "a b/c"}),
    )
    .await
    .expect(422);

    let other = api.one_time_product(10).await;
    let oid = s(&other["product_id"]);
    let typed = client(&api)
        .products()
        .short_links()
        .create(oid, &CreateShortLinkRequest::new("other"))
        .await
        .unwrap();
    assert_eq!(typed.full_url, format!("{base}/buy/{oid}"));
    let listed = client(&api)
        .products()
        .short_links()
        .list(&ListProductsShortLinksQuery::default().product_id(oid))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].short_url, typed.short_url);
    let all = api.get("/products/short_links").await.expect(200).body;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let mine = api
        .get(&format!("/products/short_links?product_id={pid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let item = &mine["items"][0];
    assert_eq!(item["product_id"], pid);
    assert_eq!(item["short_url"], link["short_url"]);
    assert_eq!(item["full_url"], full.as_str());
    assert!(item["created_at"].is_string());
}

#[tokio::test]
async fn discount_customers_attach_list_detach_and_restrict_redemption() {
    let api = Api::start().await;
    let c = client(&api);
    let product = api.one_time_product(2000).await;
    let pid = s(&product["product_id"]);
    let d = api
        .post(
            "/discounts",
            json!({"type": "flat", "amount": 500, "code": "VIP", "customer_eligibility": "specific", "currency_options": [{"currency": "USD", "max_amount_possible": 500}]}),
        )
        .await
        .expect(200)
        .body;
    let did = s(&d["discount_id"]);
    let mut ids = Vec::new();
    for i in 0..3 {
        let cus = api.customer(&format!("vip{i}@example.com")).await;
        ids.push(s(&cus["customer_id"]).to_string());
    }

    let echoed = c
        .discounts()
        .add_customers(
            did,
            &AddDiscountCustomersRequest::new(vec![ids[0].clone(), ids[1].clone(), ids[0].clone()]),
        )
        .await
        .unwrap();
    let echoed: Vec<&str> = echoed
        .items
        .iter()
        .map(|i| i.customer_id.as_str())
        .collect();
    assert_eq!(echoed, [ids[0].as_str(), ids[1].as_str()]);
    let again = api
        .post(
            &format!("/discounts/{did}/customers"),
            json!({"customer_ids": [ids[1], ids[2]]}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        again["items"],
        json!([{"customer_id": ids[1]}, {"customer_id": ids[2]}])
    );

    let path = format!("/discounts/{did}/customers");
    let all = api.get(&path).await.expect(200).body;
    assert_eq!(
        all["items"],
        json!([{"customer_id": ids[0]}, {"customer_id": ids[1]}, {"customer_id": ids[2]}])
    );
    let page1 = api
        .get(&format!("{path}?page_size=2&page_number=1"))
        .await
        .body;
    assert_eq!(page1["items"], json!([{"customer_id": ids[2]}]));

    // Unknown customers are refused, and nothing of that request is attached.
    let unknown = api
        .post(&path, json!({"customer_ids": ["cus_missing", ids[0]]}))
        .await
        .expect(422);
    assert!(s(&unknown.body["message"]).contains("cus_missing"));
    assert_eq!(
        api.get(&path).await.body["items"].as_array().unwrap().len(),
        3
    );
    api.post(&path, json!({"customer_ids": []}))
        .await
        .expect(422);
    let too_many: Vec<String> = (0..1001).map(|_| ids[0].clone()).collect();
    api.post(&path, json!({"customer_ids": too_many}))
        .await
        .expect(422);
    api.post(
        "/discounts/dsc_missing/customers",
        json!({"customer_ids": [ids[0]]}),
    )
    .await
    .expect(404);
    api.get("/discounts/dsc_missing/customers")
        .await
        .expect(404);

    api.delete(&format!("{path}/{}", ids[1])).await.expect(204);
    api.delete(&format!("{path}/{}", ids[1])).await.expect(404);
    assert_eq!(
        api.get(&path).await.body["items"],
        json!([{"customer_id": ids[0]}, {"customer_id": ids[2]}])
    );

    // Only attached customers may redeem a `specific` discount.
    let pay = |customer: &str| {
        json!({"product_cart": [{"product_id": pid, "quantity": 1}],
               "customer": {"customer_id": customer}, "billing": {"country": "US"},
               "discount_code": "VIP"})
    };
    let ok = api.post("/payments", pay(&ids[2])).await.expect(200).body;
    assert_eq!(ok["total_amount"], 1500);
    let refused = api.post("/payments", pay(&ids[1])).await.expect(422);
    assert_eq!(refused.body["code"], "DISCOUNT_CUSTOMER_NOT_ELIGIBLE");
}

#[tokio::test]
async fn first_time_and_existing_eligibility_follow_the_customers_payments() {
    let api = Api::start().await;
    let product = api.one_time_product(2000).await;
    let pid = s(&product["product_id"]);
    for (code, rule) in [("NEW", "first_time"), ("BACK", "existing")] {
        api.post(
            "/discounts",
            json!({"type": "flat", "amount": 100, "code": code, "customer_eligibility": rule, "currency_options": [{"currency": "USD", "max_amount_possible": 100}]}),
        )
        .await
        .expect(200);
    }
    let buyer = api.customer("buyer@example.com").await;
    let cid = s(&buyer["customer_id"]);
    let pay = |code: &str| {
        json!({"product_cart": [{"product_id": pid, "quantity": 1}],
               "customer": {"customer_id": cid}, "billing": {"country": "US"},
               "discount_code": code})
    };
    let refused = api.post("/payments", pay("BACK")).await.expect(422);
    assert_eq!(refused.body["code"], "DISCOUNT_CUSTOMER_NOT_ELIGIBLE");
    let first = api.post("/payments", pay("NEW")).await.expect(200).body;
    assert_eq!(first["total_amount"], 1900);
    // Still first-time until a payment succeeds.
    api.post("/payments", pay("NEW")).await.expect(200);
    api.harness()
        .complete_payment(s(&first["payment_id"]), "succeeded")
        .await
        .unwrap();
    let refused = api.post("/payments", pay("NEW")).await.expect(422);
    assert!(s(&refused.body["message"]).contains("first-time"));
    api.post("/payments", pay("BACK")).await.expect(200);
}

#[tokio::test]
async fn locales_and_supported_countries_are_real_lists() {
    let api = Api::start().await;
    let c = client(&api);
    let locales = c.misc().locales().await.unwrap();
    assert_eq!(locales.len(), 22);
    let fr = locales.iter().find(|l| l.code.as_str() == "fr").unwrap();
    assert_eq!(
        (fr.name.as_str(), fr.native_name.as_str()),
        ("French", "Français")
    );
    let countries = c.misc().supported_countries().await.unwrap();
    assert!(countries.contains(&CountryCodeAlpha2::Us));
    assert!(countries.contains(&CountryCodeAlpha2::In));
    assert!(!countries.contains(&CountryCodeAlpha2::Kp));
    assert!(countries.len() > 200);
}
